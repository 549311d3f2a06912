// overlapd::Client: a synchronous C++ client for the overlapd.v1.IoService.
//
// Every call blocks the calling thread until the server has answered; the
// streaming calls (Execute, PutFile, GetFile, Cat) run their callbacks on the
// calling thread, between reads of the stream, so a callback may block or do
// IO without stalling anything but this call (the server applies
// back-pressure while it waits).
//
// Example:
//
//   auto client = overlapd::Client::Connect("127.0.0.1:50051");
//   if (!client.ok()) return client.status();
//   absl::StatusOr<uint64_t> sent =
//       (*client)->PutFile("/tmp/big.bin", "data/big.bin", {.durable = true});
//
// A Client holds no global state. It is thread-compatible: concurrent calls
// on one Client are not supported (use one Client per thread; they may share
// a channel through the Client(channel) constructor).
#ifndef OVERLAPD_CLIENTS_CPP_CLIENT_H_
#define OVERLAPD_CLIENTS_CPP_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "overlapd/v1/overlapd.grpc.pb.h"

namespace overlapd {

// Options of PutFile.
struct PutOptions {
  // The file is on stable storage (file and directory entry fsynced) before
  // PutFile returns OK.
  bool durable = false;
  // Readers of the remote path see the old content or the new one, never a
  // mix; see PutFile for how.
  bool atomic = false;
  // Bytes per Write op (one Batch per chunk); capped by the server's
  // max_op_bytes / max_message_bytes.
  uint64_t chunk_bytes = 4u << 20;
  // Batches sent but not yet acknowledged (BATCH_COMPLETE); capped by the
  // server's max_inflight_ops_per_stream. The upload holds at most this many
  // chunks on the server and one in the client.
  uint32_t inflight = 8;
};

// Called after progress with bytes done and the total (0 when unknown).
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// Called once per event of a stream, in arrival order.
using EventFn = std::function<void(const v1::Event&)>;

class Client {
 public:
  // Creates a client for `target` ("host:port", or any gRPC target URI) over
  // an insecure channel that accepts messages up to 65 MiB. The channel
  // connects lazily: an unreachable server shows up as UNAVAILABLE from the
  // first call, not here.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(
      const std::string& target);

  // Uses an existing channel (TLS, tests, sharing one channel).
  explicit Client(std::shared_ptr<grpc::Channel> channel);

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The server's limits and engine (GetCapabilities).
  absl::StatusOr<v1::Capabilities> Capabilities();

  // Stats every path in one batch. The outer status is the call's; each
  // element is the result for paths[i] (e.g. NOT_FOUND for a missing one).
  absl::StatusOr<std::vector<absl::StatusOr<v1::FileInfo>>> Stat(
      const std::vector<std::string>& paths);

  // All entries of `dir`, sorted by name, following List pages
  // (start_after / more_entries) until the last one.
  absl::StatusOr<std::vector<v1::FileInfo>> List(const std::string& dir);

  // Runs one batch with Execute and calls `on_event` for each event until
  // BATCH_COMPLETE. Returns the call's status: OK even when single ops fail
  // (their OP_FAILED events carry the error), non-OK when the batch was
  // refused or the stream broke.
  absl::Status Execute(const v1::Batch& batch, const EventFn& on_event);

  // Uploads `local_path` to `remote_path` and returns the bytes sent.
  //
  // The file is read and sent in chunks over one Session stream, one Write op
  // (with its CRC32C) per batch, at most options.inflight batches
  // unacknowledged: memory stays bounded whatever the file size. The first
  // chunk truncates the remote file and is acknowledged before the others
  // (written at their offsets) are sent, so a late truncate cannot wipe them.
  // An empty file is created empty. The first failed op ends the upload with
  // that op's code and message.
  //
  // durable: the last chunk is sent after every other one is acknowledged,
  // with DURABILITY_FULL, so one fsync of the file and its directory covers
  // the whole file.
  //
  // atomic: a file that fits in one chunk is written with one
  // WRITE_MODE_REPLACE_ATOMIC op. A larger one is written to a hidden
  // temporary name in the same directory (".NAME.overlap-tmp-<random>") and
  // renamed over the target. A server that does not implement either answers
  // UNIMPLEMENTED, reported as "put --atomic: server does not support
  // REPLACE_ATOMIC yet (...)"; the target is never touched then.
  absl::StatusOr<uint64_t> PutFile(const std::string& local_path,
                                   const std::string& remote_path,
                                   const PutOptions& options = {},
                                   const ProgressFn& progress = nullptr);

  // Downloads `remote_path` into `local_path` (created or truncated) and
  // returns the bytes received.
  //
  // Reads the file with Read ops of at most the server's max_read_bytes; the
  // chunks arrive in any order and are written at their offsets (pwrite), so
  // the client holds one chunk at a time. Every chunk's CRC32C is checked
  // (DATA_LOSS on a mismatch) and the byte count is checked against
  // READ_COMPLETE. The local file is only created once the remote read has
  // started, so a missing remote file leaves no empty local file behind; a
  // transfer that fails midway leaves the partial local file.
  absl::StatusOr<uint64_t> GetFile(const std::string& remote_path,
                                   const std::string& local_path,
                                   const ProgressFn& progress = nullptr);

  // Streams `remote_path` to `sink` in file order and returns the byte count.
  // Reads windows of `window_bytes` one after another and reorders the chunks
  // of one window, so at most about one window is held in memory.
  absl::StatusOr<uint64_t> Cat(
      const std::string& remote_path,
      const std::function<absl::Status(absl::string_view)>& sink,
      uint64_t window_bytes = 16u << 20);

 private:
  // Like Execute, but `on_event` may stop the stream with an error, which is
  // then returned. Used by every convenience call.
  absl::Status ExecuteUntil(
      const v1::Batch& batch,
      const std::function<absl::Status(v1::Event&)>& on_event);

  // Reads [offset, offset + length) of `path` (length 0: to EOF) with one
  // Read op, checks each chunk's CRC32C, hands each chunk to `on_chunk`, and
  // returns the byte count of READ_COMPLETE.
  absl::StatusOr<uint64_t> ReadRange(
      const std::string& path, uint64_t offset, uint64_t length,
      const std::function<absl::Status(v1::Event&)>& on_chunk);

  // Capabilities, or nullopt-like nullptr when the server does not implement
  // GetCapabilities (then the client's defaults apply).
  absl::StatusOr<std::unique_ptr<v1::Capabilities>> OptionalCapabilities();

  // Writes the local file `fd` of `size` bytes to `remote_path` in chunks over
  // one Session (see PutFile).
  absl::Status UploadChunks(int fd, uint64_t size,
                            const std::string& remote_path, bool durable,
                            uint64_t chunk_bytes, uint32_t inflight,
                            const ProgressFn& progress);

  // The atomic variants of PutFile.
  absl::Status PutSmallAtomic(int fd, uint64_t size,
                              const std::string& remote_path, bool durable);
  absl::Status PutLargeAtomic(int fd, uint64_t size,
                              const std::string& remote_path, bool durable,
                              uint64_t chunk_bytes, uint32_t inflight,
                              const ProgressFn& progress);

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::IoService::Stub> stub_;
};

}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_CLIENT_H_
