#include "service/convert.h"

#include <errno.h>

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "ioengine/sandbox.h"
#include "service/op_table.h"
#include "service/status_util.h"
#include "service/wire_names.h"

namespace overlapd {

namespace {

std::string Field(int index, const char* rest) {
  return absl::StrCat("ops[", index, "].", rest);
}

// Checked as the bytes the kernel will see (wire_names.h).
absl::Status CheckPath(const std::string& path, int index, const char* field) {
  return io::CheckRelativePath(FromWireName(path), Field(index, field));
}

absl::Status CheckEntryPath(const std::string& path, int index, const char* field) {
  return overlapd::CheckEntryPath(path, Field(index, field));
}

absl::Status ValidateOp(const v1::Op& op, int i, int count, const Limits& limits) {
  if (op.link_next() && i == count - 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ops[", i, "].link_next: the last op of a batch has no next op to link"));
  }
  const ProtoOp* row = ProtoOpOf(op.kind_case());
  if (row == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("ops[", i, "]: no operation set (read, write, ...)"));
  }
  for (const PathField& field : row->paths) {
    if (field.get == nullptr) continue;
    // An atomic replace renames over its path: that must name an entry too.
    const bool entry = field.entry || (op.kind_case() == v1::Op::kWrite &&
                                       op.write().mode() == v1::WRITE_MODE_REPLACE_ATOMIC);
    OVERLAPD_RETURN_IF_ERROR(entry ? CheckEntryPath(field.get(op), i, field.name)
                                   : CheckPath(field.get(op), i, field.name));
  }
  return row->check(op, i, limits);
}

v1::FileType ToProto(io::FileType t) {
  switch (t) {
    case io::FileType::kRegular: return v1::FILE_TYPE_REGULAR;
    case io::FileType::kDirectory: return v1::FILE_TYPE_DIRECTORY;
    case io::FileType::kSymlink: return v1::FILE_TYPE_SYMLINK;
    case io::FileType::kOther: return v1::FILE_TYPE_OTHER;
    case io::FileType::kUnknown: break;
  }
  return v1::FILE_TYPE_UNKNOWN;
}

void ToProto(const io::FileInfo& in, v1::FileInfo* out) {
  out->set_name(ToWireName(in.name));
  out->set_type(ToProto(in.type));
  out->set_size(in.size);
  out->set_mtime_ns(in.mtime_ns);
  out->set_mode(in.mode);
}

}  // namespace

absl::Status CheckEntryPath(const std::string& path, const std::string& field) {
  OVERLAPD_RETURN_IF_ERROR(io::CheckRelativePath(FromWireName(path), field));
  std::string_view leaf = LeafOf(path);
  if (leaf.empty() || leaf == "." || leaf == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": \"", path, "\" does not name an entry"));
  }
  return absl::OkStatus();
}

std::string_view LeafOf(std::string_view path) {
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

absl::Status ValidateBatch(const v1::Batch& batch, const Limits& limits) {
  const int n = batch.ops_size();
  if (static_cast<uint32_t>(n) > limits.max_ops_per_batch) {
    return absl::ResourceExhaustedError(
        absl::StrCat("ops: ", n, " ops in one batch, over the limit of ",
                     limits.max_ops_per_batch));
  }
  for (int i = 0; i < n; ++i) {
    OVERLAPD_RETURN_IF_ERROR(ValidateOp(batch.ops(i), i, n, limits));
  }
  return absl::OkStatus();
}

void ToEngineOp(v1::Op& src, const Limits& limits, io::Op* op) {
  const ProtoOp* row = ProtoOpOf(src.kind_case());
  if (row == nullptr) return;  // refused by ValidateBatch
  op->type = row->type;
  if (row->paths[0].get != nullptr) op->path = FromWireName(row->paths[0].get(src));
  if (row->paths[1].get != nullptr) op->dst_path = FromWireName(row->paths[1].get(src));
  row->fill(src, limits, op);
}

void FillCompletion(const io::Op& op, v1::Event* event) {
  event->set_bytes(op.bytes);
  event->mutable_timing()->set_queued_ns(op.queued_ns);
  event->mutable_timing()->set_service_ns(op.service_ns);
  if (op.result == 0) {
    event->set_type(ProtoOpOf(op.type).done);
    const io::OpTypeInfo& info = io::TypeInfo(op.type);
    if (info.reads_file || info.writes_file) event->set_crc32c(op.crc32c);
    if (op.type == io::OpType::kStat) ToProto(op.stat, event->mutable_stat());
    if (op.type == io::OpType::kList) {
      for (const auto& e : op.entries) ToProto(e, event->add_entries());
      event->set_more_entries(op.more_entries);
    }
    return;
  }
  int err = -op.result;
  event->set_type(err == ECANCELED ? v1::OP_CANCELLED : v1::OP_FAILED);
  v1::Error* error = event->mutable_error();
  error->set_code(static_cast<int>(CodeForErrno(err)));
  error->set_errno_value(err);
  error->set_message(ErrnoMessage(
      io::OpTypeName(op.type),
      ToWireName(op.dst_path.empty() ? op.path : op.path + "\" -> \"" + op.dst_path),
      err));
}


}  // namespace overlapd
