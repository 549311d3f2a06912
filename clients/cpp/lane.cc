// Client's calls on the buffer lane: ReadInto, WriteFrom and the buffer the
// transfers (GetFile, Cat) share.
#include <algorithm>
#include <vector>

#include "absl/strings/str_format.h"
#include "clients/cpp/client.h"
#include "clients/cpp/client_internal.h"
#include "ioengine/status_macros.h"

namespace overlapd {

namespace {

void SetRef(v1::BufferRef* ref, const SharedBuffer& buffer, uint64_t offset, uint64_t length) {
  ref->set_handle(buffer.handle());
  ref->set_offset(offset);
  ref->set_length(length);
}

}  // namespace

absl::StatusOr<Client::ReadIntoResult> Client::ReadInto(const std::string& path,
                                                        const SharedBuffer& buffer,
                                                        const ReadIntoOptions& options) {
  if (!buffer.registered()) {
    return absl::FailedPreconditionError("ReadInto: the shared buffer is not registered");
  }
  v1::Batch batch;
  v1::Read* read = batch.add_ops()->mutable_read();
  read->set_path(path);
  read->set_offset(options.offset);
  read->set_length(options.length);
  SetRef(read->mutable_into(), buffer, options.buffer_offset, 0);
  ReadIntoResult result;
  uint64_t received = 0;
  bool complete = false;
  OVERLAPD_RETURN_IF_ERROR(ExecuteUntil(batch, [&](v1::Event& event) -> absl::Status {
    if (internal::IsFailure(event)) return internal::EventStatus(event);
    if (event.type() == v1::READ_COMPLETE) {
      complete = true;
      result.bytes = event.bytes();
      result.crc32c = event.crc32c();
      return absl::OkStatus();
    }
    if (event.type() != v1::READ_CHUNK) return absl::OkStatus();
    // Where the chunk landed; one outside the request is refused.
    const uint64_t at = options.buffer_offset + (event.offset() - options.offset);
    if (event.offset() < options.offset || at > buffer.size() ||
        event.bytes() > buffer.size() - at) {
      return absl::DataLossError(absl::StrFormat(
          "%s: chunk at offset %d (%d bytes) is outside the buffer", path, event.offset(),
          event.bytes()));
    }
    if (options.verify) {
      const uint32_t crc = internal::Crc32c(absl::string_view(buffer.data() + at, event.bytes()));
      if (crc != event.crc32c()) {
        return absl::DataLossError(absl::StrFormat(
            "%s: chunk at offset %d: crc32c %08x in the buffer, server said %08x", path,
            event.offset(), crc, event.crc32c()));
      }
    }
    received += event.bytes();
    ++result.chunks;
    return absl::OkStatus();
  }));
  if (!complete) return absl::InternalError("read ended without READ_COMPLETE");
  if (received != result.bytes) {
    return absl::DataLossError(absl::StrFormat(
        "%s: %d bytes in chunks, READ_COMPLETE says %d", path, received, result.bytes));
  }
  return result;
}

absl::StatusOr<v1::Event> Client::WriteFrom(const std::string& path, const SharedBuffer& buffer,
                                            uint64_t buffer_offset, uint64_t length,
                                            const v1::Write& write) {
  if (!buffer.registered()) {
    return absl::FailedPreconditionError("WriteFrom: the shared buffer is not registered");
  }
  v1::Op op;
  *op.mutable_write() = write;
  op.mutable_write()->set_path(path);
  op.mutable_write()->clear_data();
  SetRef(op.mutable_write()->mutable_from(), buffer, buffer_offset, length);
  return RunSingleOp(std::move(op), v1::WRITE_COMPLETE);
}

absl::StatusOr<SharedBuffer*> Client::LaneBuffer(uint64_t bytes) {
  if (lane_mode_ == LaneMode::kOff) return nullptr;
  bytes = std::max<uint64_t>(bytes, 1);
  if (lane_buffer_ != nullptr && lane_buffer_->size() >= bytes) return lane_buffer_.get();
  if (lane_mode_ == LaneMode::kAuto && lane_checked_ && lane_buffer_ == nullptr) return nullptr;
  lane_checked_ = true;
  absl::Status usable = [&]() -> absl::Status {
    OVERLAPD_ASSIGN_OR_RETURN(std::unique_ptr<v1::Capabilities> caps, OptionalCapabilities());
    if (caps == nullptr) return absl::FailedPreconditionError("the server predates the buffer lane");
    OVERLAPD_RETURN_IF_ERROR(LaneReachable(caps->buffer_lane(), caps->buffer_socket()));
    lane_buffer_.reset();
    OVERLAPD_ASSIGN_OR_RETURN(lane_buffer_, SharedBuffer::Create(bytes));
    absl::Status registered = lane_buffer_->Register(caps->buffer_socket(), lane_token_);
    if (!registered.ok()) lane_buffer_.reset();
    return registered;
  }();
  if (usable.ok()) return lane_buffer_.get();
  if (lane_mode_ == LaneMode::kRequire) {
    return absl::Status(usable.code(), absl::StrCat("--lane: ", usable.message()));
  }
  return nullptr;
}

}  // namespace overlapd
