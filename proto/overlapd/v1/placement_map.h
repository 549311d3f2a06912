// Which node of a cluster owns a path, by the placement map (v1::Placement):
// the one reading of the map, shared by the server's check
// (service/placement_check.h) and the cluster clients' routing
// (clients/cpp/cluster_client.h), so both always agree.
//
// A prefix owns the paths at or below it, matched by whole components after
// the normalisation the sandbox applies ("." and empty components dropped,
// ".." taking one back: "alpha/../beta/x" is beta's; "alphabet" is not
// under "alpha"). The longest matching prefix wins; "" owns what no other
// prefix does. A path that no prefix matches (or whose ".." climbs above the
// root, or that is absolute) has no owner.
//
//   absl::StatusOr<PlacementMap> map = PlacementMap::FromProto(placement, "GetPlacement");
//   const v1::PlacementNode* owner = map->OwnerOf("alpha/x");  // null: no owner
#ifndef OVERLAPD_PROTO_OVERLAPD_V1_PLACEMENT_MAP_H_
#define OVERLAPD_PROTO_OVERLAPD_V1_PLACEMENT_MAP_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "overlapd/v1/overlapd.pb.h"

namespace overlapd {

// A checked placement map. Immutable once built.
class PlacementMap {
 public:
  // INVALID_ARGUMENT naming `origin` and the field at fault: no nodes, a node without name or address, a name given twice, a
  // prefix that is absolute or leaves the root, one that two nodes claim.
  static absl::StatusOr<PlacementMap> FromProto(v1::Placement proto, absl::string_view origin);

  uint64_t version() const { return proto_.version(); }
  const v1::Placement& proto() const { return proto_; }
  // The node that owns `path` (a path of a request), or null.
  const v1::PlacementNode* OwnerOf(absl::string_view path) const;
  const v1::PlacementNode* Find(absl::string_view name) const;

 private:
  struct Prefix {
    std::vector<std::string> parts;
    int node = 0;
  };
  absl::Status AddPrefixes(int n, absl::string_view origin);

  v1::Placement proto_;
  std::vector<Prefix> prefixes_;  // longest first
};

}  // namespace overlapd

#endif  // OVERLAPD_PROTO_OVERLAPD_V1_PLACEMENT_MAP_H_
