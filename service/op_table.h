// The one table of op kinds on the service side: for each kind of proto Op,
// its engine OpType, the event that reports its success, the path fields it
// names (with the scope each needs and whether it must name an entry), the
// checks of its other fields, and how its other fields fill an io::Op.
// Validation (convert.cc), authorisation (auth.cc), metrics and byte
// accounting all read this table; adding an op means the proto, one engine
// function, one row here (and one in io::kOpTypes).
#ifndef OVERLAPD_SERVICE_OP_TABLE_H_
#define OVERLAPD_SERVICE_OP_TABLE_H_

#include <string>

#include "absl/status/status.h"
#include "ioengine/engine.h"
#include "overlapd/v1/overlapd.pb.h"
#include "service/auth_scope.h"
#include "service/config.h"

namespace overlapd {


// Bytes of a buffer lane handle (BufferRef.handle): 128 random bits.
inline constexpr size_t kBufferHandleBytes = 16;

struct PathField {
  const char* name = nullptr;  // "copy.dst": the request field, for errors
  const std::string& (*get)(const v1::Op&) = nullptr;
  Scope scope = kScopeRead;
  // Names an entry to create, move or remove: not the root, not "." or "..".
  bool entry = false;
};

struct ProtoOp {
  v1::Op::KindCase kind;
  io::OpType type;
  v1::EventType done;  // the event of its success
  PathField paths[2];  // the first fills io::Op::path, the second dst_path
  // Checks the fields other than paths; the error names ops[`index`].
  absl::Status (*check)(const v1::Op& op, int index, const Limits& limits);
  // Fills the io::Op fields other than type and paths; may move data out.
  void (*fill)(v1::Op& src, const Limits& limits, io::Op* op);
  // Whether running it again, after a restart that lost its outcome,
  // leaves what running it once does (job_recovery.h).
  bool (*rerun_safe)(const v1::Op& op);
};

// The row of `kind`, or null (KIND_NOT_SET, or a kind this server does not know).
const ProtoOp* ProtoOpOf(v1::Op::KindCase kind);
// The row of an engine op type.
const ProtoOp& ProtoOpOf(io::OpType type);

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_OP_TABLE_H_
