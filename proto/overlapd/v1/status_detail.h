// How a v1::Redirect travels with a refusal, on both sides of the wire.
//
// Inside the server and the C++ client it is a payload of the absl::Status
// (type URL kRedirectTypeUrl); on the wire it is gRPC's rich error model: the
// grpc-status-details-bin trailer holds an RpcStatus (wire-identical to
// google.rpc.Status) whose details hold the Redirect. A Session's refused
// batch carries it in Error.redirect instead (the call goes on).
//
//   absl::Status s = WithRedirect(absl::FailedPreconditionError("..."), redirect);
//   grpc::Status wire = ToGrpcWithDetails(s);          // the server's answer
//   absl::Status back = FromGrpcWithDetails(wire);     // the client's view
//   std::optional<v1::Redirect> r = RedirectOf(back);  // r->owner, r->address
#ifndef OVERLAPD_PROTO_OVERLAPD_V1_STATUS_DETAIL_H_
#define OVERLAPD_PROTO_OVERLAPD_V1_STATUS_DETAIL_H_

#include <grpcpp/support/status.h>

#include <optional>

#include "absl/status/status.h"
#include "overlapd/v1/overlapd.pb.h"

namespace overlapd {

inline constexpr char kRedirectTypeUrl[] = "type.googleapis.com/overlapd.v1.Redirect";

// `status` with `redirect` attached (an OK status stays OK, without it).
absl::Status WithRedirect(absl::Status status, const v1::Redirect& redirect);

// The Redirect attached to `status`, if any.
std::optional<v1::Redirect> RedirectOf(const absl::Status& status);

// absl -> grpc with the same code and message, and the Redirect, when there
// is one, in the status details.
grpc::Status ToGrpcWithDetails(const absl::Status& status);

// grpc -> absl with the same code and message, and the Redirect of the
// status details, when there is one, attached.
absl::Status FromGrpcWithDetails(const grpc::Status& status);

}  // namespace overlapd

#endif  // OVERLAPD_PROTO_OVERLAPD_V1_STATUS_DETAIL_H_
