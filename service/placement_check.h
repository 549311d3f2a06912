// The one ownership check of a cluster node: every path field of every op
// kind (op_table.h), for Execute, Session, Submit and BeginUpload alike.
#ifndef OVERLAPD_SERVICE_PLACEMENT_CHECK_H_
#define OVERLAPD_SERVICE_PLACEMENT_CHECK_H_

#include <string>

#include "absl/status/status.h"
#include "overlapd/v1/overlapd.pb.h"
#include "service/placement.h"

namespace overlapd {

class Metrics;

// OK when every path field of every op of `batch` belongs to this node
// (always, when `store` is null: no --placement). Otherwise
// FAILED_PRECONDITION naming ops[i] and the field, with a v1::Redirect
// attached (status_detail.h): "other_node" names the owner, its address and
// the map version; "unowned" a path no prefix matches; "cross_node" a Copy
// or Rename whose two paths belong to two nodes. Counts the refusal in
// overlapd_redirects_total{reason} when `metrics` is given.
absl::Status CheckPlacement(const v1::Batch& batch, const PlacementStore* store,
                            Metrics* metrics);
// The same for one path field outside a batch (BeginUpload's path).
absl::Status CheckPathPlacement(const std::string& path, const std::string& field,
                                const PlacementStore* store, Metrics* metrics);

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_PLACEMENT_CHECK_H_
