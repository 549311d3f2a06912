// overlapd::Client: a synchronous C++ client for the overlapd.v1.IoService.
//
// Every call blocks the calling thread until the server has answered; the
// streaming calls (Execute, PutFile, GetFile, Cat, Subscribe) run their
// callbacks on the calling thread, between reads of the stream, so a callback
// may block or do IO without stalling anything but this call (the server
// applies back-pressure while it waits; a Subscribe that falls behind gets
// EVENTS_LOST instead).
//
// Example:
//
//   auto client = overlapd::Client::Connect("127.0.0.1:50051");
//   if (!client.ok()) return client.status();
//   absl::StatusOr<uint64_t> sent =
//       (*client)->PutFile("/tmp/big.bin", "data/big.bin", {.durable = true});
//
// Detached jobs and the event stream:
//
//   v1::Batch batch;
//   v1::Copy* copy = batch.add_ops()->mutable_copy();
//   copy->set_src("a.txt");
//   copy->set_dst("a.txt.bak");
//   absl::StatusOr<v1::Job> job = (*client)->Submit(batch);
//   if (!job.ok()) return job.status();
//   absl::StatusOr<v1::Job> done = (*client)->WaitJob(job->id());
//
// A Client holds no global state. It is thread-compatible: concurrent calls
// on one Client are not supported (use one Client per thread; they may share
// a channel through the Client(channel) constructor). The one exception is
// SubscribeStop::Stop, which any thread may call.
#ifndef OVERLAPD_CLIENTS_CPP_CLIENT_H_
#define OVERLAPD_CLIENTS_CPP_CLIENT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
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

// Called once per event of a Subscribe stream, in arrival order. Returning
// false ends the subscription (Subscribe then returns OK); the events left in
// the message being handled are dropped.
using SubscribeFn = std::function<bool(const v1::Event&)>;

// Called after each poll of WaitJob with the job's latest state.
using JobFn = std::function<void(const v1::Job&)>;

// Ends a Subscribe from another thread (a timer, a signal-handling thread, a
// UI): Stop() cancels the running call (grpc::ClientContext::TryCancel) and
// Subscribe returns OK. One-shot: once stopped, a Subscribe given this token
// returns OK at once. Thread-safe; must outlive the Subscribe it is given to.
//
//   SubscribeStop stop;
//   std::thread timer([&] { absl::SleepFor(absl::Seconds(10)); stop.Stop(); });
//   absl::Status status = client->Subscribe(request, on_event, &stop);
//   timer.join();
class SubscribeStop {
 public:
  SubscribeStop() = default;
  SubscribeStop(const SubscribeStop&) = delete;
  SubscribeStop& operator=(const SubscribeStop&) = delete;

  void Stop();
  bool stopped() const;

 private:
  friend class Client;
  // Registers the context of a starting call; false when already stopped.
  bool Attach(grpc::ClientContext* context);
  // Unregisters it before the context dies; true when Stop() was called.
  bool Detach();

  mutable std::mutex mu_;
  bool stopped_ = false;
  grpc::ClientContext* context_ = nullptr;  // guarded by mu_
};

// How to reach a server that has TLS (--tls-cert), mutual TLS
// (--tls-client-ca) or bearer tokens (--tokens). Empty fields: plaintext, no
// client certificate, no token.
struct ConnectOptions {
  std::string tls_ca_file{};    // PEM of the CA that signed the server's certificate
  std::string tls_cert_file{};  // mutual TLS: this client's certificate chain (PEM)
  std::string tls_key_file{};   // mutual TLS: this client's private key (PEM)
  std::string token{};          // sent as "authorization: Bearer TOKEN" on every call
};

// A channel to `target` with `options` (credentials, and the token added to
// every call). Errors: unreadable PEM files, a certificate without its key.
absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateChannel(
    const std::string& target, const ConnectOptions& options,
    const grpc::ChannelArguments& args);

class Client {
 public:
  // Creates a client for `target` ("host:port", or any gRPC target URI) on a
  // channel that accepts messages up to 65 MiB (plaintext unless `options`
  // say otherwise). The channel connects lazily: an unreachable server shows
  // up as UNAVAILABLE from the first call, not here.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(
      const std::string& target, const ConnectOptions& options = {});

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

  // --- Single-op helpers -------------------------------------------------
  // Each runs an Execute batch of one op. An op that fails (OP_FAILED) or is
  // cancelled returns the event's error code and message, prefixed with the
  // path when the message lacks it, e.g. NOT_FOUND "a.txt: No such file or
  // directory". A server that lacks the op answers UNIMPLEMENTED.

  // Server-side copy of `src` to `dst` (created or truncated); the bytes never
  // cross the network. Returns the bytes copied (COPY_COMPLETE).
  //
  //   absl::StatusOr<uint64_t> n =
  //       client->Copy("data/a.bin", "data/a.bin.bak", v1::DURABILITY_FULL);
  absl::StatusOr<uint64_t> Copy(const std::string& src, const std::string& dst,
                                v1::Durability durability = v1::DURABILITY_NONE);

  // Renames `src` to `dst`, replacing an existing `dst` unless `no_replace`
  // (then ALREADY_EXISTS).
  //
  //   absl::Status s = client->Rename("logs/new.txt", "logs/current.txt");
  absl::Status Rename(const std::string& src, const std::string& dst,
                      bool no_replace = false);

  // Deletes a file, or with `directory` an empty directory (a non-empty one
  // fails with the server's code, FAILED_PRECONDITION for ENOTEMPTY).
  //
  //   absl::Status s = client->Delete("tmp/old", /*directory=*/true);
  absl::Status Delete(const std::string& path, bool directory = false);

  // Creates a directory; with `parents`, also its missing parents, and an
  // existing directory is not an error (mkdir -p).
  //
  //   absl::Status s = client->Mkdir("a/b/c", /*parents=*/true);
  absl::Status Mkdir(const std::string& path, bool parents = false);

  // --- Detached jobs -----------------------------------------------------

  // Starts `batch` as a detached job (Submit) and returns it, normally QUEUED
  // or RUNNING, with its id. The job runs on the server whether or not this
  // client stays connected. A batch that breaks a rule is refused as a whole
  // (INVALID_ARGUMENT / RESOURCE_EXHAUSTED) and no job is created.
  //
  //   absl::StatusOr<v1::Job> job = client->Submit(batch);
  //   if (job.ok()) std::cout << job->id() << "\n";
  absl::StatusOr<v1::Job> Submit(const v1::Batch& batch);

  // The job's current state, counts and times; NOT_FOUND for an unknown id.
  absl::StatusOr<v1::Job> GetJob(uint64_t id);

  // Asks the server to cancel the job and returns the job as it then stands:
  // CANCELLED, its final state if it had already ended, or still RUNNING
  // while ops in flight wind down (WaitJob then gives the final state).
  absl::StatusOr<v1::Job> CancelJob(uint64_t id);

  // One page of jobs, newest first. `page_size` 0 lets the server choose
  // (100); `page_token` is the previous page's next_page_token ("" for the
  // first page). The last page has an empty next_page_token.
  absl::StatusOr<v1::ListJobsResponse> ListJobs(uint32_t page_size,
                                                const std::string& page_token);

  // Up to `max_jobs` jobs (0: all), newest first, following pages.
  //
  //   absl::StatusOr<std::vector<v1::Job>> recent = client->ListAllJobs(20);
  absl::StatusOr<std::vector<v1::Job>> ListAllJobs(size_t max_jobs);

  // Polls GetJob every `poll_interval` until the job has ended (SUCCEEDED,
  // FAILED or CANCELLED) and returns it; `on_poll` sees every poll. Returns
  // DEADLINE_EXCEEDED, naming the last state seen, when the job is still
  // running after `timeout`. The job's own failure is not an error here:
  // check the returned state.
  //
  //   absl::StatusOr<v1::Job> job = client->WaitJob(id, absl::Milliseconds(200),
  //                                                 absl::Minutes(5));
  //   if (job.ok() && job->state() != v1::SUCCEEDED) { ... }
  absl::StatusOr<v1::Job> WaitJob(
      uint64_t id, absl::Duration poll_interval = absl::Milliseconds(200),
      absl::Duration timeout = absl::InfiniteDuration(),
      const JobFn& on_poll = nullptr);

  // Follows the server's event log (Subscribe) and calls `on_event` for each
  // event that matches `request` (job ids, path prefix, types, from_seq).
  //
  // Runs until the server ends the stream (returns its status: OK, or e.g.
  // UNAVAILABLE when it shuts down), until `on_event` returns false, or until
  // `stop` (optional) is stopped from another thread; the last two cancel the
  // call and return OK. A subscriber that falls behind the log gets one
  // EVENTS_LOST event (count, first_seq, last_seq) and continues. To resume
  // after a broken stream without a gap, subscribe again with from_seq = the
  // last seq seen + 1.
  //
  //   v1::SubscribeRequest request;
  //   request.add_job_ids(job_id);
  //   int seen = 0;
  //   absl::Status s = client->Subscribe(request, [&](const v1::Event& e) {
  //     std::cout << e.seq() << " " << v1::EventType_Name(e.type()) << "\n";
  //     return ++seen < 10;  // stop after 10 events
  //   });
  absl::Status Subscribe(const v1::SubscribeRequest& request,
                         const SubscribeFn& on_event,
                         SubscribeStop* stop = nullptr);

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
  // atomic: a file that fits in one Write op (the server's max_op_bytes,
  // capped by the message limits; options.chunk_bytes when the server does
  // not report its limits) is written with one WRITE_MODE_REPLACE_ATOMIC op.
  // A larger one is written in chunks to a hidden temporary name in the same
  // directory (".NAME.overlap-tmp-<random>") and renamed over the target. A
  // server that does not implement REPLACE_ATOMIC or Rename answers
  // UNIMPLEMENTED, reported as "put --atomic: server does not support ...
  // yet (...)"; the target is never touched then.
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

  // Runs a batch of the one op `op` and returns its completion event of type
  // `expected`; OP_FAILED / OP_CANCELLED become that op's status.
  absl::StatusOr<v1::Event> RunSingleOp(v1::Op op, v1::EventType expected);

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
