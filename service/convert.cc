#include "service/convert.h"

#include <errno.h>

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "ioengine/sandbox.h"
#include "service/status_util.h"

namespace overlapd {

namespace {

std::string Field(int index, const char* rest) {
  return absl::StrCat("ops[", index, "].", rest);
}

absl::Status CheckPath(const std::string& path, int index, const char* field) {
  return io::CheckRelativePath(path, Field(index, field));
}

absl::Status CheckEntryPath(const std::string& path, int index, const char* field) {
  return overlapd::CheckEntryPath(path, Field(index, field));
}

absl::Status ValidateOp(const v1::Op& op, int i, int count, const Limits& limits) {
  if (op.link_next() && i == count - 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ops[", i, "].link_next: the last op of a batch has no next op to link"));
  }
  switch (op.kind_case()) {
    case v1::Op::kRead:
      OVERLAPD_RETURN_IF_ERROR(CheckPath(op.read().path(), i, "read.path"));
      if (op.read().length() > limits.max_read_bytes) {
        return absl::ResourceExhaustedError(absl::StrCat(
            Field(i, "read.length"), ": ", op.read().length(),
            " bytes, over the limit of ", limits.max_read_bytes));
      }
      return absl::OkStatus();
    case v1::Op::kWrite: {
      const v1::Write& w = op.write();
      OVERLAPD_RETURN_IF_ERROR(CheckPath(w.path(), i, "write.path"));
      if (w.data().size() > limits.max_op_bytes) {
        return absl::ResourceExhaustedError(absl::StrCat(
            Field(i, "write.data"), ": ", w.data().size(),
            " bytes, over the limit of ", limits.max_op_bytes,
            "; split it into several writes"));
      }
      if ((w.mode() == v1::WRITE_MODE_APPEND ||
           w.mode() == v1::WRITE_MODE_REPLACE_ATOMIC) &&
          w.offset() != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            Field(i, "write.offset"), ": must be 0 with mode ",
            v1::WriteMode_Name(w.mode())));
      }
      if (w.mode() == v1::WRITE_MODE_REPLACE_ATOMIC) {
        OVERLAPD_RETURN_IF_ERROR(CheckEntryPath(w.path(), i, "write.path"));
      }
      if (!v1::WriteMode_IsValid(w.mode())) {
        return absl::InvalidArgumentError(
            absl::StrCat(Field(i, "write.mode"), ": unknown value ", w.mode()));
      }
      if (!v1::Durability_IsValid(w.durability())) {
        return absl::InvalidArgumentError(absl::StrCat(
            Field(i, "write.durability"), ": unknown value ", w.durability()));
      }
      // No file can reach past 2^63 - 1 bytes (off_t).
      if (w.offset() > static_cast<uint64_t>(INT64_MAX) - w.data().size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            Field(i, "write.offset"), ": offset ", w.offset(), " + ", w.data().size(),
            " bytes ends past the largest file offset (2^63 - 1)"));
      }
      return absl::OkStatus();
    }
    case v1::Op::kFsync:
      return CheckPath(op.fsync().path(), i, "fsync.path");
    case v1::Op::kStat:
      return CheckPath(op.stat().path(), i, "stat.path");
    case v1::Op::kList:
      return CheckPath(op.list().path(), i, "list.path");
    case v1::Op::kCopy:
      OVERLAPD_RETURN_IF_ERROR(CheckPath(op.copy().src(), i, "copy.src"));
      OVERLAPD_RETURN_IF_ERROR(CheckEntryPath(op.copy().dst(), i, "copy.dst"));
      if (!v1::Durability_IsValid(op.copy().durability())) {
        return absl::InvalidArgumentError(absl::StrCat(
            Field(i, "copy.durability"), ": unknown value ", op.copy().durability()));
      }
      return absl::OkStatus();
    case v1::Op::kRename:
      OVERLAPD_RETURN_IF_ERROR(CheckEntryPath(op.rename().src(), i, "rename.src"));
      return CheckEntryPath(op.rename().dst(), i, "rename.dst");
    case v1::Op::kDelete:
      return CheckEntryPath(op.delete_().path(), i, "delete.path");
    case v1::Op::kMkdir:
      return CheckEntryPath(op.mkdir().path(), i, "mkdir.path");
    case v1::Op::KIND_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("ops[", i, "]: no operation set (read, write, ...)"));
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
  out->set_name(in.name);
  out->set_type(ToProto(in.type));
  out->set_size(in.size);
  out->set_mtime_ns(in.mtime_ns);
  out->set_mode(in.mode);
}

v1::EventType SuccessType(io::OpType type) {
  switch (type) {
    case io::OpType::kRead: return v1::READ_COMPLETE;
    case io::OpType::kWrite: return v1::WRITE_COMPLETE;
    case io::OpType::kFsync: return v1::FSYNC_COMPLETE;
    case io::OpType::kStat: return v1::STAT_COMPLETE;
    case io::OpType::kList: return v1::LIST_COMPLETE;
    case io::OpType::kCopy: return v1::COPY_COMPLETE;
    case io::OpType::kRename: return v1::RENAME_COMPLETE;
    case io::OpType::kDelete: return v1::DELETE_COMPLETE;
    case io::OpType::kMkdir: return v1::MKDIR_COMPLETE;
  }
  return v1::EVENT_TYPE_UNSPECIFIED;
}

}  // namespace

absl::Status CheckEntryPath(const std::string& path, const std::string& field) {
  OVERLAPD_RETURN_IF_ERROR(io::CheckRelativePath(path, field));
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
  switch (src.kind_case()) {
    case v1::Op::kRead:
      op->type = io::OpType::kRead;
      op->path = src.read().path();
      op->offset = src.read().offset();
      op->length = src.read().length();
      break;
    case v1::Op::kWrite: {
      v1::Write* w = src.mutable_write();
      op->type = io::OpType::kWrite;
      op->path = w->path();
      op->offset = w->offset();
      op->data = std::move(*w->mutable_data());
      op->mode = static_cast<io::WriteMode>(w->mode());
      op->durability = static_cast<io::Durability>(w->durability());
      if (w->has_expected_crc32c()) op->expected_crc32c = w->expected_crc32c();
      break;
    }
    case v1::Op::kFsync:
      op->type = io::OpType::kFsync;
      op->path = src.fsync().path();
      op->data_only = src.fsync().data_only();
      break;
    case v1::Op::kStat:
      op->type = io::OpType::kStat;
      op->path = src.stat().path();
      break;
    case v1::Op::kList:
      op->type = io::OpType::kList;
      op->path = src.list().path();
      op->start_after = src.list().start_after();
      op->limit = src.list().limit() == 0
                      ? limits.max_list_entries
                      : std::min(src.list().limit(), limits.max_list_entries);
      break;
    case v1::Op::kCopy:
      op->type = io::OpType::kCopy;
      op->path = src.copy().src();
      op->path2 = src.copy().dst();
      op->durability = static_cast<io::Durability>(src.copy().durability());
      break;
    case v1::Op::kRename:
      op->type = io::OpType::kRename;
      op->path = src.rename().src();
      op->path2 = src.rename().dst();
      op->no_replace = src.rename().no_replace();
      break;
    case v1::Op::kDelete:
      op->type = io::OpType::kDelete;
      op->path = src.delete_().path();
      op->directory = src.delete_().directory();
      break;
    case v1::Op::kMkdir:
      op->type = io::OpType::kMkdir;
      op->path = src.mkdir().path();
      op->parents = src.mkdir().parents();
      break;
    case v1::Op::KIND_NOT_SET:
      break;  // refused by ValidateBatch
  }
}

void FillCompletion(const io::Op& op, v1::Event* event) {
  event->set_bytes(op.bytes);
  event->mutable_timing()->set_queued_ns(op.queued_ns);
  event->mutable_timing()->set_service_ns(op.service_ns);
  if (op.result == 0) {
    event->set_type(SuccessType(op.type));
    if (op.type == io::OpType::kRead || op.type == io::OpType::kWrite ||
        op.type == io::OpType::kCopy) {
      event->set_crc32c(op.crc32c);
    }
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
      io::OpTypeName(op.type), op.path2.empty() ? op.path : op.path + "\" -> \"" + op.path2,
      err));
}

MetricOp MetricOpOf(io::OpType type) {
  switch (type) {
    case io::OpType::kRead: return MetricOp::kRead;
    case io::OpType::kWrite: return MetricOp::kWrite;
    case io::OpType::kFsync: return MetricOp::kFsync;
    case io::OpType::kStat: return MetricOp::kStat;
    case io::OpType::kList: return MetricOp::kList;
    case io::OpType::kCopy: return MetricOp::kCopy;
    case io::OpType::kRename: return MetricOp::kRename;
    case io::OpType::kDelete: return MetricOp::kDelete;
    case io::OpType::kMkdir: return MetricOp::kMkdir;
  }
  return MetricOp::kRead;
}

MetricResult MetricResultOf(int result) {
  if (result == 0) return MetricResult::kOk;
  if (result == -ECANCELED) return MetricResult::kCancelled;
  return MetricResult::kError;
}

}  // namespace overlapd
