#include "service/op_table.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "ioengine/status_macros.h"
#include "service/wire_names.h"

namespace overlapd {
namespace {

std::string Field(int index, const char* rest) { return absl::StrCat("ops[", index, "].", rest); }

absl::Status NoChecks(const v1::Op&, int, const Limits&) { return absl::OkStatus(); }

absl::Status CheckDurability(v1::Durability d, int index, const char* field) {
  if (v1::Durability_IsValid(d)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(Field(index, field), ": unknown value ", d));
}

// The handle of a BufferRef is the 16 bytes the registration answered;
// whether it names a buffer is for BufferRegistry::Resolve to say.
absl::Status CheckBufferRef(const v1::BufferRef& ref, int i, const char* field) {
  if (ref.handle().size() == kBufferHandleBytes) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(Field(i, field), ": ", ref.handle().size(),
                                                 " bytes; a buffer handle has ",
                                                 kBufferHandleBytes));
}

absl::Status CheckRead(const v1::Op& op, int i, const Limits& limits) {
  if (op.read().has_into()) {
    OVERLAPD_RETURN_IF_ERROR(CheckBufferRef(op.read().into(), i, "read.into.handle"));
  }
  if (op.read().length() <= limits.max_read_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(Field(i, "read.length"), ": ",
                                                   op.read().length(), " bytes, over the limit of ",
                                                   limits.max_read_bytes));
}

absl::Status CheckWrite(const v1::Op& op, int i, const Limits& limits) {
  const v1::Write& w = op.write();
  if (w.has_from()) {
    OVERLAPD_RETURN_IF_ERROR(CheckBufferRef(w.from(), i, "write.from.handle"));
    if (!w.data().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          Field(i, "write.data"), ": must be empty when write.from names the bytes"));
    }
  }
  const uint64_t size = w.has_from() ? w.from().length() : w.data().size();
  if (w.data().size() > limits.max_op_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        Field(i, "write.data"), ": ", w.data().size(), " bytes, over the limit of ",
        limits.max_op_bytes, "; split it into several writes"));
  }
  const bool no_offset =
      w.mode() == v1::WRITE_MODE_APPEND || w.mode() == v1::WRITE_MODE_REPLACE_ATOMIC;
  if (no_offset && w.offset() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(Field(i, "write.offset"),
                                                   ": must be 0 with mode ",
                                                   v1::WriteMode_Name(w.mode())));
  }
  if (!v1::WriteMode_IsValid(w.mode())) {
    return absl::InvalidArgumentError(
        absl::StrCat(Field(i, "write.mode"), ": unknown value ", w.mode()));
  }
  // No file can reach past 2^63 - 1 bytes (off_t).
  if (size > static_cast<uint64_t>(INT64_MAX) ||
      w.offset() > static_cast<uint64_t>(INT64_MAX) - size) {
    return absl::InvalidArgumentError(absl::StrCat(
        Field(i, "write.offset"), ": offset ", w.offset(), " + ", size,
        " bytes ends past the largest file offset (2^63 - 1)"));
  }
  return CheckDurability(w.durability(), i, "write.durability");
}

absl::Status CheckCopy(const v1::Op& op, int i, const Limits&) {
  return CheckDurability(op.copy().durability(), i, "copy.durability");
}

void FillNothing(v1::Op&, const Limits&, io::Op*) {}

void FillRead(v1::Op& src, const Limits&, io::Op* op) {
  op->offset = src.read().offset();
  op->length = src.read().length();
}

void FillWrite(v1::Op& src, const Limits&, io::Op* op) {
  v1::Write* w = src.mutable_write();
  op->offset = w->offset();
  op->data = std::move(*w->mutable_data());
  op->mode = static_cast<io::WriteMode>(w->mode());
  op->durability = static_cast<io::Durability>(w->durability());
  if (w->has_expected_crc32c()) op->expected_crc32c = w->expected_crc32c();
}

void FillFsync(v1::Op& src, const Limits&, io::Op* op) { op->data_only = src.fsync().data_only(); }

void FillList(v1::Op& src, const Limits& limits, io::Op* op) {
  op->start_after = FromWireName(src.list().start_after());
  op->limit = src.list().limit() == 0 ? limits.max_list_entries
                                      : std::min(src.list().limit(), limits.max_list_entries);
}

void FillCopy(v1::Op& src, const Limits&, io::Op* op) {
  op->durability = static_cast<io::Durability>(src.copy().durability());
}

void FillRename(v1::Op& src, const Limits&, io::Op* op) {
  op->no_replace = src.rename().no_replace();
}

void FillDelete(v1::Op& src, const Limits&, io::Op* op) {
  op->directory = src.delete_().directory();
}

void FillMkdir(v1::Op& src, const Limits&, io::Op* op) { op->parents = src.mkdir().parents(); }

// Path accessors: plain functions, so that the table stays constant.
const std::string& ReadPath(const v1::Op& op) { return op.read().path(); }
const std::string& WritePath(const v1::Op& op) { return op.write().path(); }
const std::string& FsyncPath(const v1::Op& op) { return op.fsync().path(); }
const std::string& StatPath(const v1::Op& op) { return op.stat().path(); }
const std::string& ListPath(const v1::Op& op) { return op.list().path(); }
const std::string& CopySrc(const v1::Op& op) { return op.copy().src(); }
const std::string& CopyDst(const v1::Op& op) { return op.copy().dst(); }
const std::string& RenameSrc(const v1::Op& op) { return op.rename().src(); }
const std::string& RenameDst(const v1::Op& op) { return op.rename().dst(); }
const std::string& DeletePath(const v1::Op& op) { return op.delete_().path(); }
const std::string& MkdirPath(const v1::Op& op) { return op.mkdir().path(); }

// A REPLACE_ATOMIC write's path must name an entry too: CheckWrite's caller
// (convert.cc) checks that, as it depends on the mode.
bool Idempotent(const v1::Op&) { return true; }
bool NotIdempotent(const v1::Op&) { return false; }
// At, truncate and atomic replace write the same bytes again; an append
// would append twice, and a create-new finds the file it made.
bool WriteIdempotent(const v1::Op& op) {
  return op.write().mode() != v1::WRITE_MODE_APPEND &&
         op.write().mode() != v1::WRITE_MODE_CREATE_NEW;
}

const ProtoOp kProtoOps[] = {
    {v1::Op::kRead, io::OpType::kRead, v1::READ_COMPLETE,
     {{"read.path", ReadPath, kScopeRead, false}}, CheckRead, FillRead, Idempotent},
    {v1::Op::kWrite, io::OpType::kWrite, v1::WRITE_COMPLETE,
     {{"write.path", WritePath, kScopeWrite, false}}, CheckWrite, FillWrite, WriteIdempotent},
    {v1::Op::kFsync, io::OpType::kFsync, v1::FSYNC_COMPLETE,
     {{"fsync.path", FsyncPath, kScopeWrite, false}}, NoChecks, FillFsync, Idempotent},
    {v1::Op::kStat, io::OpType::kStat, v1::STAT_COMPLETE,
     {{"stat.path", StatPath, kScopeRead, false}}, NoChecks, FillNothing, Idempotent},
    {v1::Op::kList, io::OpType::kList, v1::LIST_COMPLETE,
     {{"list.path", ListPath, kScopeRead, false}}, NoChecks, FillList, Idempotent},
    {v1::Op::kCopy, io::OpType::kCopy, v1::COPY_COMPLETE,
     {{"copy.src", CopySrc, kScopeRead, false}, {"copy.dst", CopyDst, kScopeWrite, true}},
     CheckCopy, FillCopy, Idempotent},
    {v1::Op::kRename, io::OpType::kRename, v1::RENAME_COMPLETE,
     {{"rename.src", RenameSrc, kScopeWrite, true}, {"rename.dst", RenameDst, kScopeWrite, true}},
     NoChecks, FillRename, NotIdempotent},
    {v1::Op::kDelete, io::OpType::kDelete, v1::DELETE_COMPLETE,
     {{"delete.path", DeletePath, kScopeWrite, true}}, NoChecks, FillDelete, NotIdempotent},
    {v1::Op::kMkdir, io::OpType::kMkdir, v1::MKDIR_COMPLETE,
     // Rerun: an existing directory counts as made (jobs.cc).
     {{"mkdir.path", MkdirPath, kScopeWrite, true}}, NoChecks, FillMkdir, Idempotent},
};

}  // namespace

const ProtoOp* ProtoOpOf(v1::Op::KindCase kind) {
  for (const ProtoOp& row : kProtoOps) {
    if (row.kind == kind) return &row;
  }
  return nullptr;
}

const ProtoOp& ProtoOpOf(io::OpType type) {
  for (const ProtoOp& row : kProtoOps) {
    if (row.type == type) return row;
  }
  __builtin_unreachable();  // every io::OpType has its row (op_table_test)
}

}  // namespace overlapd
