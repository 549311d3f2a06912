#include "service/placement.h"

#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ioengine/flag_file.h"

namespace overlapd {
namespace {

using Json = nlohmann::json;

absl::Status Bad(absl::string_view origin, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(origin, ": ", what));
}

// A string field of node `at`; absent or not a string reads as "" (which
// PlacementMap::FromProto refuses, naming the field).
std::string StringField(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

absl::Status ParseNode(const Json& j, absl::string_view origin, const std::string& at,
                       v1::PlacementNode* node) {
  if (!j.is_object()) return Bad(origin, at + ": an object is required");
  node->set_name(StringField(j, "name"));
  node->set_address(StringField(j, "address"));
  auto prefixes = j.find("prefixes");
  if (prefixes == j.end()) return absl::OkStatus();  // a node that owns nothing (yet)
  if (!prefixes->is_array()) return Bad(origin, at + ".prefixes: an array is required");
  for (const Json& p : *prefixes) {
    if (!p.is_string()) return Bad(origin, at + ".prefixes: strings are required");
    node->add_prefixes(p.get<std::string>());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PlacementMap> ParsePlacement(absl::string_view text, absl::string_view origin) {
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Bad(origin, "not a JSON object");
  v1::Placement proto;
  auto version = j.find("version");
  if (version == j.end() || !version->is_number_unsigned() || version->get<uint64_t>() == 0) {
    return Bad(origin, "version: a number of 1 or more is required");
  }
  proto.set_version(version->get<uint64_t>());
  auto nodes = j.find("nodes");
  if (nodes == j.end() || !nodes->is_array()) return Bad(origin, "nodes: an array is required");
  for (size_t i = 0; i < nodes->size(); ++i) {
    absl::Status s = ParseNode((*nodes)[i], origin, absl::StrCat("nodes[", i, "]"),
                               proto.add_nodes());
    if (!s.ok()) return s;
  }
  return PlacementMap::FromProto(std::move(proto), origin);
}

absl::StatusOr<PlacementMap> LoadPlacementFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFlagFile("--placement", path);
  if (!text.ok()) return text.status();
  return ParsePlacement(*text, absl::StrCat("--placement ", path));
}

absl::Status PlacementStore::Set(std::shared_ptr<const PlacementMap> map) {
  const v1::PlacementNode* self = map->Find(node_);
  if (self == nullptr) {
    std::vector<std::string> names;
    for (const auto& n : map->proto().nodes()) names.push_back(n.name());
    return absl::InvalidArgumentError(
        absl::StrCat("placement map version ", map->version(), " has no node \"", node_,
                     "\" (--node); its nodes: ", absl::StrJoin(names, ", ")));
  }
  spdlog::info("placement map version {}: this node {} owns [{}] ({} nodes)", map->version(),
               node_, absl::StrJoin(self->prefixes(), ", "), map->proto().nodes_size());
  absl::MutexLock lock(&mu_);
  map_ = std::move(map);
  return absl::OkStatus();
}

std::shared_ptr<const PlacementMap> PlacementStore::Get() const {
  absl::MutexLock lock(&mu_);
  return map_;
}

}  // namespace overlapd
