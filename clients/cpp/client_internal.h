// Building blocks of overlapd::Client that need no server: CRC32C, status
// translation, chunk planning for uploads, temp names, and the reorder buffer
// behind ordered reads. Internal to clients/cpp (used by client.cc, the CLI
// and the unit test); not a stable API.
#ifndef OVERLAPD_CLIENTS_CPP_CLIENT_INTERNAL_H_
#define OVERLAPD_CLIENTS_CPP_CLIENT_INTERNAL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>

#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "clients/cpp/cancel.h"
#include "ioengine/crc32c.h"
#include "overlapd/v1/overlapd.pb.h"

namespace overlapd {
namespace internal {

// Largest gRPC message the client sends or accepts. The server's own limit is
// reported by GetCapabilities.max_message_bytes; 64 MiB plus framing headroom
// covers the largest op the server is expected to allow.
inline constexpr int kMaxMessageBytes = (64 << 20) + (1 << 20);

// Bytes reserved in a message for everything but Write.data (path, fields,
// protobuf framing), so a chunk plus its envelope stays under the limit.
inline constexpr uint64_t kMessageOverheadBytes = 64 << 10;

// CRC32C (Castagnoli), the checksum carried in every event; the same code
// the server uses.
inline uint32_t Crc32c(absl::string_view data) {
  return io::Crc32c(data.data(), data.size());
}

// grpc::Status -> absl::Status with the same code and message (the numeric
// codes of both are google.rpc.Code), and a placement Redirect of the status
// details attached (overlapd/v1/status_detail.h).
absl::Status FromGrpcStatus(const grpc::Status& status);

// The same, for a failed call of the RPC `rpc`: an empty message (gRPC sends
// none for an unimplemented method or a refused connection) becomes one that
// names the RPC, e.g. UNIMPLEMENTED "the server does not implement Submit".
absl::Status FromGrpcStatus(const grpc::Status& status, absl::string_view rpc);

// A canonical code carried as an int (Error.code) -> absl::StatusCode;
// anything outside google.rpc.Code is UNKNOWN.
absl::StatusCode CodeFromInt(int code);

// The status of an OP_FAILED or OP_CANCELLED event: its error code and
// message, prefixed with the event's path when the message lacks it. Also
// for a BATCH_COMPLETE that carries an error (a batch a Session refused).
absl::Status EventStatus(const v1::Event& event);

// An op's failure: OP_FAILED or OP_CANCELLED.
bool IsFailure(const v1::Event& event);

// A BATCH_COMPLETE with an error: the server refused the whole batch (a
// Session answers a refused batch this way and goes on), so none of its ops
// ran and none will have a terminal event.
bool IsRefusedBatch(const v1::Event& event);

// SUCCEEDED, FAILED or CANCELLED.
bool IsTerminal(v1::JobState state);

// Registers a call's context with a CancelToken for the call's lifetime.
// cancelled(): the token was already cancelled, so the call must not start
// (nothing was registered).
class CallGuard {
 public:
  CallGuard(CancelToken* token, grpc::ClientContext* context)
      : token_(token), context_(context) {
    if (token_ != nullptr && !token_->Attach(context_)) {
      cancelled_ = true;
      token_ = nullptr;
    }
  }
  ~CallGuard() {
    if (token_ != nullptr) token_->Detach(context_);
  }
  CallGuard(const CallGuard&) = delete;
  CallGuard& operator=(const CallGuard&) = delete;

  bool cancelled() const { return cancelled_; }

 private:
  CancelToken* token_;
  grpc::ClientContext* context_;
  bool cancelled_ = false;
};

// The status of a call that was not started because of `CallGuard`.
absl::Status CancelledBeforeStart(absl::string_view rpc);

// How a file of `size` bytes is split into ranges of at most `chunk_bytes`:
// PutFile's Write ops, GetFile's Read ops, a resume's CRC checks. An empty
// file is still one (empty) chunk, so an upload creates the remote file.
struct ChunkPlan {
  uint64_t size = 0;
  uint64_t chunk_bytes = 1;

  uint64_t chunk_count() const;
  uint64_t offset(uint64_t index) const { return index * chunk_bytes; }
  uint64_t length(uint64_t index) const;
};

// The chunk size to use: `requested` (0 = 4 MiB) capped by the server's
// max_op_bytes and max_message_bytes (less kMessageOverheadBytes) when `caps`
// is given, and by the client's own message limit.
uint64_t EffectiveChunkBytes(uint64_t requested, const v1::Capabilities* caps);

// The largest file PutFile sends as one WRITE_MODE_REPLACE_ATOMIC
// op: the server's max_op_bytes capped like a chunk (message limits), or
// `fallback` (the upload chunk size) when the server reports no max_op_bytes.
uint64_t SingleWriteOpBytes(const v1::Capabilities* caps, uint64_t fallback);

// The number of unacknowledged batches to allow: `requested` (0 = 8) capped
// by the server's max_inflight_ops_per_stream when known; at least 1.
uint32_t EffectiveInflight(uint32_t requested, const v1::Capabilities* caps);

// The directory part of a remote path: "a/b/c" -> "a/b", "c" -> ".".
std::string ParentDir(absl::string_view path);

// The temporary name a put writes before renaming when the server has no
// BeginUpload: same directory, hidden,
// "a/b/c" -> "a/b/.c.overlap-tmp-<16 hex digits of random>".
std::string TempNameFor(absl::string_view path, uint64_t random);

// Turns chunks that arrive in any order into an in-order byte stream.
// Chunks at the next expected offset go straight to the sink; others wait in
// memory until the gap before them is filled, so the memory held is bounded by
// how far ahead of the next offset the caller lets reads run (one read window).
// Thread-compatible.
class ReorderBuffer {
 public:
  // Receives contiguous bytes in order; a non-OK status aborts the read.
  using Sink = std::function<absl::Status(absl::string_view)>;

  ReorderBuffer(uint64_t start_offset, Sink sink)
      : next_offset_(start_offset), sink_(std::move(sink)) {}

  // Accepts the chunk at `offset`. Overlapping or repeated bytes are DATA_LOSS:
  // the server never sends a byte twice.
  absl::Status Add(uint64_t offset, std::string data);

  // Offset of the first byte not yet passed to the sink.
  uint64_t next_offset() const { return next_offset_; }
  // Bytes waiting for an earlier gap to be filled.
  uint64_t buffered_bytes() const { return buffered_bytes_; }

 private:
  uint64_t next_offset_;
  uint64_t buffered_bytes_ = 0;
  std::map<uint64_t, std::string> pending_;  // offset -> data, all > next
  Sink sink_;
};

}  // namespace internal
}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_CLIENT_INTERNAL_H_
