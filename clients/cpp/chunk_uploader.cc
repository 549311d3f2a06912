#include "clients/cpp/chunk_uploader.h"

#include <utility>

#include "absl/strings/str_format.h"
#include "clients/cpp/local_file.h"
#include "ioengine/status_macros.h"

namespace overlapd {
namespace internal {

absl::StatusOr<bool> FileChunks::Next(uint64_t* offset, std::string* data) {
  const uint64_t count = plan_.chunk_count();
  while (index_ < count && !need_[index_]) ++index_;
  if (index_ >= count) return false;
  *offset = plan_.offset(index_);
  data->resize(plan_.length(index_));
  OVERLAPD_RETURN_IF_ERROR(PreadExact(fd_, data->data(), data->size(), *offset, what_));
  ++index_;
  return true;
}

absl::StatusOr<bool> StreamChunks::Next(uint64_t* offset, std::string* data) {
  if (done_) return false;
  data->resize(chunk_bytes_);
  OVERLAPD_ASSIGN_OR_RETURN(const uint64_t n,
                           ReadFull(fd_, data->data(), chunk_bytes_, what_));
  data->resize(n);
  // A short chunk is the last; so is an empty one, except as the very first
  // (an empty stream still creates the file).
  if (n < chunk_bytes_) done_ = true;
  if (n == 0 && offset_ > 0) return false;
  *offset = offset_;
  offset_ += n;
  return true;
}

ChunkUploader::ChunkUploader(v1::IoService::Stub* stub, CancelToken* cancel,
                             Options options, AckFn on_acked)
    : stub_(stub),
      cancel_(cancel),
      options_(std::move(options)),
      on_acked_(std::move(on_acked)) {
  batch_.add_ops()->mutable_write()->set_path(options_.path);
}

absl::Status ChunkUploader::Run(ChunkSource& source) {
  // The cancel token is polled, not attached to the call: see Close.
  if (Cancelled()) return CancelledBeforeStart("Session");
  stream_ = stub_->Session(&context_);
  return Close(SendAll(source));
}

bool ChunkUploader::Cancelled() const { return cancel_ != nullptr && cancel_->cancelled(); }

absl::Status ChunkUploader::SendAll(ChunkSource& source) {
  const size_t inflight = options_.inflight == 0 ? 1 : options_.inflight;
  bool first = true;
  for (;;) {
    OVERLAPD_RETURN_IF_ERROR(AwaitAtMost(inflight - 1));
    if (Cancelled()) return absl::CancelledError("upload interrupted");
    uint64_t offset = 0;
    std::string* data = batch_.mutable_ops(0)->mutable_write()->mutable_data();
    OVERLAPD_ASSIGN_OR_RETURN(const bool more, source.Next(&offset, data));
    if (!more) break;
    const bool truncate = first && options_.truncate_first;
    OVERLAPD_RETURN_IF_ERROR(Send(truncate, offset));
    if (truncate) OVERLAPD_RETURN_IF_ERROR(AwaitAtMost(0));
    first = false;
  }
  OVERLAPD_RETURN_IF_ERROR(AwaitAtMost(0));
  if (options_.tail == nullptr || options_.tail->ops_size() == 0) return absl::OkStatus();
  return SendTail();
}

absl::Status ChunkUploader::SendTail() {
  v1::Batch tail = *options_.tail;
  const uint64_t tag = next_tag_++;
  tail.set_tag(tag);
  if (options_.tail_state != nullptr) options_.tail_state->sent = true;
  if (!stream_->Write(tail)) {
    stream_ended_ = true;
    return absl::UnavailableError("session stream closed by the server");
  }
  int completed = 0;
  for (;;) {
    if (!stream_->Read(&events_)) {
      stream_ended_ = true;
      return absl::UnavailableError("session stream ended before the upload's last batch");
    }
    for (const v1::Event& event : events_.events()) {
      if (IsFailure(event)) return EventStatus(event);
      if (event.type() != v1::BATCH_COMPLETE) {
        if (event.type() != v1::OP_CANCELLED) ++completed;
        continue;
      }
      if (event.tag() != tag) continue;
      if (completed != tail.ops_size()) {
        return absl::InternalError(absl::StrFormat(
            "%s: %d of %d ops of the last batch reported completion", options_.path, completed,
            tail.ops_size()));
      }
      if (options_.tail_state != nullptr) options_.tail_state->done = true;
      return absl::OkStatus();
    }
  }
}

absl::Status ChunkUploader::Send(bool truncate, uint64_t offset) {
  const uint64_t tag = next_tag_++;
  batch_.set_tag(tag);
  v1::Op* op = batch_.mutable_ops(0);
  op->set_tag(tag);
  v1::Write* write = op->mutable_write();
  write->set_offset(offset);
  write->set_mode(truncate ? v1::WRITE_MODE_TRUNCATE : v1::WRITE_MODE_AT);
  write->set_expected_crc32c(Crc32c(write->data()));
  pending_[tag] = Pending{offset, write->data().size(), false};
  // Write() serializes the batch before it returns; the buffer is free to
  // be refilled afterwards.
  if (!stream_->Write(batch_)) {
    stream_ended_ = true;
    return absl::UnavailableError("session stream closed by the server");
  }
  return absl::OkStatus();
}

absl::Status ChunkUploader::AwaitAtMost(size_t limit) {
  while (pending_.size() > limit) {
    if (!stream_->Read(&events_)) {
      stream_ended_ = true;
      return absl::UnavailableError(absl::StrFormat(
          "session stream ended with %d batches unacknowledged", pending_.size()));
    }
    for (const v1::Event& event : events_.events()) {
      OVERLAPD_RETURN_IF_ERROR(HandleEvent(event));
    }
    if (Cancelled()) return absl::CancelledError("upload interrupted");
  }
  return absl::OkStatus();
}

absl::Status ChunkUploader::HandleEvent(const v1::Event& event) {
  if (IsFailure(event)) return EventStatus(event);
  if (event.type() != v1::WRITE_COMPLETE && event.type() != v1::BATCH_COMPLETE) {
    return absl::OkStatus();
  }
  auto it = pending_.find(event.tag());
  if (it == pending_.end()) {
    return absl::InternalError(absl::StrFormat(
        "%s for tag %d, which is not pending", v1::EventType_Name(event.type()),
        event.tag()));
  }
  Pending& chunk = it->second;
  if (event.type() == v1::WRITE_COMPLETE) {
    if (event.bytes() != chunk.length) {
      return absl::DataLossError(absl::StrFormat(
          "%s: chunk at offset %d: server wrote %d of %d bytes", options_.path,
          chunk.offset, event.bytes(), chunk.length));
    }
    chunk.written = true;
    return absl::OkStatus();
  }
  // BATCH_COMPLETE: the server refused the batch, or ran it.
  if (IsRefusedBatch(event)) return EventStatus(event);
  if (!chunk.written) {
    return absl::InternalError(absl::StrFormat(
        "%s: batch of the chunk at offset %d completed without WRITE_COMPLETE",
        options_.path, chunk.offset));
  }
  const Pending done = chunk;
  pending_.erase(it);
  if (on_acked_) on_acked_(done.offset, done.length);
  return absl::OkStatus();
}

// Ends the call. Whether the upload succeeded or not, it half-closes and
// reads the stream to its end: the server ends a Session only once every op
// it accepted has completed, so when Close returns no write of this upload
// is still running on the server, and a temp file deleted afterwards stays
// deleted. (Cancelling the call instead would leave writes in flight that
// could create the file again after the delete.) Only a stream that already
// broke is not drained; its own status then says why.
absl::Status ChunkUploader::Close(absl::Status status) {
  if (!stream_ended_) {
    stream_->WritesDone();
    while (stream_->Read(&events_)) {
    }
  }
  const grpc::Status final_status = stream_->Finish();
  if (status.ok()) return FromGrpcStatus(final_status, "Session");
  if (stream_ended_ && !final_status.ok()) return FromGrpcStatus(final_status, "Session");
  return status;
}

}  // namespace internal
}  // namespace overlapd
