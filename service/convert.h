// The service edge: proto requests checked and turned into engine ops, and
// engine results turned into proto events. The only place the two meet.
#ifndef OVERLAPD_SERVICE_CONVERT_H_
#define OVERLAPD_SERVICE_CONVERT_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "ioengine/engine.h"
#include "overlapd/v1/overlapd.pb.h"
#include "service/config.h"
#include "service/metrics.h"

namespace overlapd {


// Checks every rule a batch must meet before any of it runs: op count, op
// sizes, path syntax in every path field, field combinations. The error
// names the op index and field, e.g.
//   INVALID_ARGUMENT "ops[2].write.path: absolute path \"/etc/passwd\" refused..."
//   RESOURCE_EXHAUSTED "ops: 5000 ops in one batch, over the limit of 4096"
absl::Status ValidateBatch(const v1::Batch& batch, const Limits& limits);

// Paths that name an entry to create, move or remove (the root itself is
// not one): CheckRelativePath, and a last component that is not empty, "."
// or "..". The error names `field`.
absl::Status CheckEntryPath(const std::string& path, const std::string& field);
// The last component of `path` (trailing slashes ignored).
std::string_view LeafOf(std::string_view path);

// Fills `op` from a validated proto op. Moves the write data out of `src`
// rather than copying it.
void ToEngineOp(v1::Op& src, const Limits& limits, io::Op* op);

// Sets type, bytes, crc32c, stat/entries, error and timing of `event` from
// a completed op.
void FillCompletion(const io::Op& op, v1::Event* event);


}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_CONVERT_H_
