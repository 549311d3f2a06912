// The placement map of a cluster node (--placement FILE, --node NAME): the
// file read into a PlacementMap (proto/overlapd/v1/placement_map.h: which
// node owns a path), and the map in force, swapped on SIGHUP.
// placement_check.h refuses, before any IO, an op this node does not own.
//
// The file is JSON; fields other than these are ignored:
//
//   {"version": 3,
//    "nodes": [{"name": "a", "address": "overlapd-0.overlapd:50051",
//               "prefixes": ["alpha", "shared/x"]},
//              {"name": "b", "address": "overlapd-1.overlapd:50051",
//               "prefixes": ["beta"]}]}
#ifndef OVERLAPD_SERVICE_PLACEMENT_H_
#define OVERLAPD_SERVICE_PLACEMENT_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "overlapd/v1/placement_map.h"

namespace overlapd {

// The map of a JSON text; errors (INVALID_ARGUMENT) name `origin` and the
// field at fault (see PlacementMap::FromProto for the rules).
absl::StatusOr<PlacementMap> ParsePlacement(absl::string_view json, absl::string_view origin);
// The same for a file.
absl::StatusOr<PlacementMap> LoadPlacementFile(const std::string& path);

// The map in force on this node, and this node's name in it. Thread-safe.
class PlacementStore {
 public:
  explicit PlacementStore(std::string node) : node_(std::move(node)) {}

  // Refused (INVALID_ARGUMENT, the map in force stays) when `map` has no
  // node of this name. Logs the version and the prefixes this node owns.
  absl::Status Set(std::shared_ptr<const PlacementMap> map);
  std::shared_ptr<const PlacementMap> Get() const;
  const std::string& node() const { return node_; }

 private:
  const std::string node_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const PlacementMap> map_ ABSL_GUARDED_BY(mu_);
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_PLACEMENT_H_
