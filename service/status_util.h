// Errors at the service edge: errno to canonical codes, absl to grpc.
#ifndef OVERLAPD_SERVICE_STATUS_UTIL_H_
#define OVERLAPD_SERVICE_STATUS_UTIL_H_

#include <grpcpp/support/status.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "ioengine/status_macros.h"
#include "overlapd/v1/status_detail.h"


namespace overlapd {

// The canonical code for an op that failed at run time with `err` (a
// positive errno). EXDEV comes from the sandbox (an escape from the root or
// a token's prefix, or a magic link): PERMISSION_DENIED. ELOOP is a symlink
// loop inside the root and ESPIPE (io::ENOTREG) a FIFO, socket or device:
// FAILED_PRECONDITION. E2BIG is a read over --max-read-bytes:
// RESOURCE_EXHAUSTED. EIO is DATA_LOSS: the device
// could not return or keep the bytes. EBADMSG is the engine's CRC mismatch.
absl::StatusCode CodeForErrno(int err);

// "read data/a.txt: No such file or directory" style text for `err`.
std::string ErrnoMessage(std::string_view op, std::string_view path, int err);

// Same code and message; a Redirect (placement_check.h) goes in the status
// details.
inline grpc::Status ToGrpc(const absl::Status& s) { return ToGrpcWithDetails(s); }

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_STATUS_UTIL_H_
