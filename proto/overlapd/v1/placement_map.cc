#include "overlapd/v1/placement_map.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ioengine/path_parts.h"

namespace overlapd {
namespace {

absl::Status Bad(absl::string_view origin, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(origin, ": ", what));
}

}  // namespace

absl::StatusOr<PlacementMap> PlacementMap::FromProto(v1::Placement proto,
                                                     absl::string_view origin) {
  if (proto.nodes_size() == 0) return Bad(origin, "nodes: at least one node is required");
  PlacementMap map;
  map.proto_ = std::move(proto);
  for (int n = 0; n < map.proto_.nodes_size(); ++n) {
    const v1::PlacementNode& node = map.proto_.nodes(n);
    const std::string at = absl::StrCat("nodes[", n, "]");
    if (node.name().empty()) return Bad(origin, at + ".name: required");
    if (node.address().empty()) return Bad(origin, at + ".address: required");
    if (map.Find(node.name()) != &node) {
      return Bad(origin, absl::StrCat(at, ".name: \"", node.name(), "\" is given twice"));
    }
    absl::Status added = map.AddPrefixes(n, origin);
    if (!added.ok()) return added;
  }
  std::stable_sort(map.prefixes_.begin(), map.prefixes_.end(), [](const Prefix& a, const Prefix& b) {
    return a.parts.size() > b.parts.size();
  });
  return map;
}

absl::Status PlacementMap::AddPrefixes(int n, absl::string_view origin) {
  const v1::PlacementNode& node = proto_.nodes(n);
  for (const std::string& prefix : node.prefixes()) {
    std::vector<absl::string_view> parts;
    if ((!prefix.empty() && prefix.front() == '/') || !NormalisePath(prefix, &parts)) {
      return Bad(origin, absl::StrCat("nodes[", n, "].prefixes: \"", prefix,
                                      "\" is not a path relative to the root"));
    }
    Prefix p{std::vector<std::string>(parts.begin(), parts.end()), n};
    for (const Prefix& other : prefixes_) {
      if (other.parts == p.parts) {
        return Bad(origin, absl::StrCat("prefix \"", prefix, "\" is claimed by node ",
                                        proto_.nodes(other.node).name(), " and by node ",
                                        node.name()));
      }
    }
    prefixes_.push_back(std::move(p));
  }
  return absl::OkStatus();
}

const v1::PlacementNode* PlacementMap::OwnerOf(absl::string_view path) const {
  std::vector<absl::string_view> parts;
  if ((!path.empty() && path.front() == '/') || !NormalisePath(path, &parts)) return nullptr;
  for (const Prefix& p : prefixes_) {
    if (p.parts.size() <= parts.size() &&
        std::equal(p.parts.begin(), p.parts.end(), parts.begin())) {
      return &proto_.nodes(p.node);
    }
  }
  return nullptr;
}

const v1::PlacementNode* PlacementMap::Find(absl::string_view name) const {
  for (const v1::PlacementNode& node : proto_.nodes()) {
    if (node.name() == name) return &node;
  }
  return nullptr;
}

}  // namespace overlapd
