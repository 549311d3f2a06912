// ChunkUploader: sends the chunks of one upload as Write ops over one
// Session stream, pipelined, and checks every acknowledgement. Internal to
// clients/cpp (used by upload.cc).
#ifndef OVERLAPD_CLIENTS_CPP_CHUNK_UPLOADER_H_
#define OVERLAPD_CLIENTS_CPP_CHUNK_UPLOADER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/client_context.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "clients/cpp/cancel.h"
#include "clients/cpp/client_internal.h"
#include "overlapd/v1/overlapd.grpc.pb.h"

namespace overlapd {
namespace internal {

// Where the chunks of an upload come from.
class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  // Fills `data` with the next chunk to send and sets `offset`; false when
  // there is none left.
  virtual absl::StatusOr<bool> Next(uint64_t* offset, std::string* data) = 0;
};

// The chunks of a local file, as `plan` splits it, for which `need` is true.
class FileChunks final : public ChunkSource {
 public:
  FileChunks(int fd, const ChunkPlan& plan, const std::vector<bool>& need,
             std::string what)
      : fd_(fd), plan_(plan), need_(need), what_(std::move(what)) {}
  absl::StatusOr<bool> Next(uint64_t* offset, std::string* data) override;

 private:
  int fd_;
  ChunkPlan plan_;
  const std::vector<bool>& need_;
  std::string what_;
  uint64_t index_ = 0;
};

// A stream (pipe, stdin) read to its end in chunks of `chunk_bytes`; an
// empty stream is one empty chunk, so the remote file is still created.
class StreamChunks final : public ChunkSource {
 public:
  StreamChunks(int fd, uint64_t chunk_bytes, std::string what)
      : fd_(fd), chunk_bytes_(chunk_bytes), what_(std::move(what)) {}
  absl::StatusOr<bool> Next(uint64_t* offset, std::string* data) override;
  // Bytes read so far: the file's size once Next has returned false.
  uint64_t size() const { return offset_; }

 private:
  int fd_;
  uint64_t chunk_bytes_;
  std::string what_;
  uint64_t offset_ = 0;
  bool done_ = false;
};

// Uploads chunks to one remote path over one Session stream.
//
// Single-threaded pipelining: the caller's thread sends batches (one Write
// op each) while fewer than `inflight` are unacknowledged and otherwise reads
// events until one batch completes. This cannot deadlock: the server stops
// reading batches only while its credit is used up, and credit returns as
// ops complete, not as we read; the events we leave unread meanwhile are a
// few small messages (no data), far below the stream's flow-control window.
//
// A chunk counts as acknowledged (on_acked) only when its batch's
// BATCH_COMPLETE arrives after the op's WRITE_COMPLETE with the full byte
// count. Errors: the first OP_FAILED / OP_CANCELLED, or a BATCH_COMPLETE
// carrying an error (the server refused the batch: nothing was written),
// ends the upload with that status; so does `cancel` (CANCELLED), checked
// after every message. Either way no more chunks are sent and the ops in
// flight are waited for (see Close), so that nothing of this upload is still
// writing once Run returns. A broken stream ends it with the call's status.
class ChunkUploader {
 public:
  struct Options {
    std::string path;
    // The first chunk sent truncates the file (WRITE_MODE_TRUNCATE) and is
    // acknowledged before any other is sent, so a late truncate cannot wipe
    // them; the others are written at their offsets (WRITE_MODE_AT). Only
    // for a file that may hold old bytes (put --in-place): a fresh temp file
    // needs no truncate, and a retry must not wipe acknowledged chunks.
    bool truncate_first = true;
    uint32_t inflight = 8;
    // Sent on the same stream once every chunk is acknowledged (the rename
    // of a temp file over its target), when it has ops: a server that is
    // draining refuses new calls but lets an open stream go on, so an
    // upload in flight at SIGTERM still completes. Every op must report
    // its completion. Not owned; may be null.
    const v1::Batch* tail = nullptr;
    // Where the tail got to: sent (its outcome may be unknown) and done.
    struct TailState {
      bool sent = false;
      bool done = false;
    };
    TailState* tail_state = nullptr;
  };
  using AckFn = std::function<void(uint64_t offset, uint64_t bytes)>;

  ChunkUploader(v1::IoService::Stub* stub, CancelToken* cancel, Options options,
                AckFn on_acked);
  absl::Status Run(ChunkSource& source);

 private:
  struct Pending {
    uint64_t offset = 0;
    uint64_t length = 0;
    bool written = false;
  };

  absl::Status SendAll(ChunkSource& source);
  absl::Status SendTail();
  absl::Status Send(bool truncate, uint64_t offset);
  absl::Status AwaitAtMost(size_t limit);
  absl::Status HandleEvent(const v1::Event& event);
  absl::Status Close(absl::Status status);
  bool Cancelled() const;

  v1::IoService::Stub* stub_;
  CancelToken* cancel_;
  Options options_;
  AckFn on_acked_;

  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::Batch, v1::EventBatch>> stream_;
  bool stream_ended_ = false;
  // One Batch is reused for every chunk, so its data buffer is allocated
  // once: the client holds one chunk at a time.
  v1::Batch batch_;
  v1::EventBatch events_;
  uint64_t next_tag_ = 1;
  std::map<uint64_t, Pending> pending_;  // by batch (= op) tag
};

}  // namespace internal
}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_CHUNK_UPLOADER_H_
