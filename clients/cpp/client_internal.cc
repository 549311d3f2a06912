#include "clients/cpp/client_internal.h"


#include <algorithm>
#include <climits>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "overlapd/v1/status_detail.h"

namespace overlapd {
namespace internal {

absl::StatusCode CodeFromInt(int code) {
  // absl::StatusCode and grpc::StatusCode both number google.rpc.Code 0..16.
  if (code < 0 || code > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    return absl::StatusCode::kUnknown;
  }
  return static_cast<absl::StatusCode>(code);
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  return FromGrpcWithDetails(status);
}

absl::Status FromGrpcStatus(const grpc::Status& status, absl::string_view rpc) {
  absl::Status converted = FromGrpcStatus(status);
  if (converted.ok() || !converted.message().empty()) return converted;
  if (converted.code() == absl::StatusCode::kUnimplemented) {
    return absl::UnimplementedError(
        absl::StrCat("the server does not implement ", rpc));
  }
  return absl::Status(converted.code(),
                      absl::StrCat(rpc, " failed with no message from the server"));
}

absl::Status EventStatus(const v1::Event& event) {
  absl::StatusCode code = CodeFromInt(event.error().code());
  std::string message = event.error().message();
  if (event.type() == v1::OP_CANCELLED) {
    if (code == absl::StatusCode::kOk) code = absl::StatusCode::kCancelled;
    if (message.empty()) message = "operation cancelled";
  } else if (code == absl::StatusCode::kOk) {
    // A failure (or a refused batch) without a code is a server bug; never
    // report it as success.
    code = absl::StatusCode::kUnknown;
  }
  if (message.empty()) message = absl::StatusCodeToString(code);
  if (!event.path().empty() &&
      message.find(event.path()) == std::string::npos) {
    message = absl::StrCat(event.path(), ": ", message);
  }
  absl::Status status(code, message);
  if (event.error().has_redirect()) return WithRedirect(status, event.error().redirect());
  return status;
}

bool IsFailure(const v1::Event& event) {
  return event.type() == v1::OP_FAILED || event.type() == v1::OP_CANCELLED;
}

bool IsRefusedBatch(const v1::Event& event) {
  return event.type() == v1::BATCH_COMPLETE &&
         (event.error().code() != 0 || !event.error().message().empty());
}

bool IsTerminal(v1::JobState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED ||
         state == v1::CANCELLED;
}

absl::Status CancelledBeforeStart(absl::string_view rpc) {
  return absl::CancelledError(absl::StrCat("interrupted before ", rpc));
}

uint64_t ChunkPlan::chunk_count() const {
  if (size == 0) return 1;
  return (size + chunk_bytes - 1) / chunk_bytes;
}

uint64_t ChunkPlan::length(uint64_t index) const {
  const uint64_t start = offset(index);
  if (start >= size) return 0;
  return std::min(chunk_bytes, size - start);
}

uint64_t EffectiveChunkBytes(uint64_t requested, const v1::Capabilities* caps) {
  uint64_t chunk = requested == 0 ? (4u << 20) : requested;
  chunk = std::min<uint64_t>(chunk, kMaxMessageBytes - kMessageOverheadBytes);
  if (caps != nullptr) {
    if (caps->max_op_bytes() > 0) chunk = std::min(chunk, caps->max_op_bytes());
    if (caps->max_message_bytes() > 2 * kMessageOverheadBytes) {
      chunk = std::min(chunk, caps->max_message_bytes() - kMessageOverheadBytes);
    }
  }
  return std::max<uint64_t>(chunk, 1);
}

uint64_t SingleWriteOpBytes(const v1::Capabilities* caps, uint64_t fallback) {
  if (caps == nullptr || caps->max_op_bytes() == 0) return fallback;
  return EffectiveChunkBytes(caps->max_op_bytes(), caps);
}

uint32_t EffectiveInflight(uint32_t requested, const v1::Capabilities* caps) {
  uint32_t inflight = requested == 0 ? 8 : requested;
  if (caps != nullptr && caps->max_inflight_ops_per_stream() > 0) {
    inflight = std::min(inflight, caps->max_inflight_ops_per_stream());
  }
  return std::max<uint32_t>(inflight, 1);
}

std::string ParentDir(absl::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  const size_t slash = path.rfind('/');
  if (slash == absl::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

std::string TempNameFor(absl::string_view path, uint64_t random) {
  const size_t slash = path.rfind('/');
  const absl::string_view dir =
      slash == absl::string_view::npos ? absl::string_view()
                                       : path.substr(0, slash + 1);
  const absl::string_view name =
      slash == absl::string_view::npos ? path : path.substr(slash + 1);
  return absl::StrFormat("%s.%s.overlap-tmp-%016x", dir, name, random);
}

absl::Status ReorderBuffer::Add(uint64_t offset, std::string data) {
  if (data.empty()) return absl::OkStatus();
  const uint64_t end = offset + data.size();
  // Reject bytes already emitted or already waiting: a repeated chunk would
  // otherwise corrupt the output silently.
  auto overlaps = [&]() {
    if (offset < next_offset_) return true;
    auto after = pending_.lower_bound(offset);
    if (after != pending_.end() && after->first < end) return true;
    if (after != pending_.begin()) {
      auto before = std::prev(after);
      if (before->first + before->second.size() > offset) return true;
    }
    return false;
  };
  if (overlaps()) {
    return absl::DataLossError(absl::StrFormat(
        "chunk at offset %d (%d bytes) overlaps data already received", offset,
        data.size()));
  }
  if (offset != next_offset_) {
    buffered_bytes_ += data.size();
    pending_.emplace(offset, std::move(data));
    return absl::OkStatus();
  }
  absl::Status status = sink_(data);
  if (!status.ok()) return status;
  next_offset_ = end;
  // The new chunk may have closed the gap before chunks that arrived early.
  for (auto it = pending_.begin();
       it != pending_.end() && it->first == next_offset_;
       it = pending_.erase(it)) {
    status = sink_(it->second);
    if (!status.ok()) return status;
    next_offset_ += it->second.size();
    buffered_bytes_ -= it->second.size();
  }
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace overlapd
