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
//   absl::StatusOr<overlapd::TransferResult> put =
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
// a channel through the Client(channel) constructor). The exceptions are
// SubscribeStop::Stop and CancelToken::Cancel, which any thread may call.
#ifndef OVERLAPD_CLIENTS_CPP_CLIENT_H_
#define OVERLAPD_CLIENTS_CPP_CLIENT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <optional>
#include <utility>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clients/cpp/shared_buffer.h"
#include "clients/cpp/cancel.h"
#include "clients/cpp/channel.h"
#include "clients/cpp/transfer.h"
#include "overlapd/v1/overlapd.grpc.pb.h"

namespace overlapd {

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

  mutable absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
};

namespace internal {
class Uploader;
class Downloader;
}  // namespace internal

class Client {
 public:
  // Creates a client for `target` ("host:port", or any gRPC target URI) on a
  // channel that accepts messages up to 65 MiB (plaintext unless `options`
  // say otherwise). The channel connects lazily: an unreachable server shows
  // up as UNAVAILABLE from the first call, not here.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(
      const std::string& target, const ConnectOptions& options = {});

  // The channel Connect makes (message limits, reconnect backoff), for
  // callers that share one channel between Clients (ClusterClient).
  static absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(
      const std::string& target, const ConnectOptions& options = {});

  // Uses an existing channel (TLS, tests, sharing one channel).
  explicit Client(std::shared_ptr<grpc::Channel> channel);

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The server's limits and engine (GetCapabilities).
  absl::StatusOr<v1::Capabilities> Capabilities();

  // The placement map the server serves (version 0 and no nodes when it
  // runs alone); ClusterClient routes by it.
  absl::StatusOr<v1::Placement> GetPlacement();

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
  // refused (by the call's status or by a BATCH_COMPLETE carrying an error,
  // which on_event does not see), the stream broke, or it ended before
  // BATCH_COMPLETE.
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

  // --- Whole-file transfers ----------------------------------------------
  // Each call checks every event it relies on: an op's terminal event, each
  // batch's BATCH_COMPLETE (a refused batch carries its error there), every
  // chunk's CRC32C and the byte counts. It returns OK only when the whole
  // file is where it was sent, and it never leaves a half-written
  // destination behind unless asked to (PutOptions::in_place).

  // Uploads `local_path` to `remote_path`.
  //
  // The file goes to a temporary sibling of `remote_path` that is renamed
  // over it once every chunk is acknowledged, so readers (and an interrupted
  // upload) see the old file or the new one, never a mix. A file that fits
  // in one Write op is sent as one WRITE_MODE_REPLACE_ATOMIC op (the server
  // does the temp and rename); a larger one goes, in chunks of one Write op
  // each (with its CRC32C), over one Session stream to the temp name that
  // BeginUpload returns (a server without BeginUpload: a client-made name,
  // ".NAME.overlap-tmp-<random>"), at most options.inflight batches
  // unacknowledged, so memory stays bounded whatever the file size. A
  // failed or cancelled upload deletes its temp file unless options.resume
  // keeps it for the next try. See PutOptions for durable, in_place, resume
  // and retries.
  //
  //   absl::StatusOr<TransferResult> put = client->PutFile(
  //       "/tmp/big.bin", "data/big.bin", {.durable = true, .resume = true});
  absl::StatusOr<TransferResult> PutFile(const std::string& local_path,
                                         const std::string& remote_path,
                                         const PutOptions& options = {},
                                         const ProgressFn& progress = nullptr);

  // Like PutFile, from a stream of unknown length (a pipe, stdin) read to
  // its end. Always through a temp file and a rename (or in place with
  // options.in_place); no resume, and no retry once input was consumed.
  absl::StatusOr<TransferResult> PutStream(int fd, const std::string& remote_path,
                                           const PutOptions& options = {},
                                           const ProgressFn& progress = nullptr);

  // Downloads `remote_path` into `local_path`.
  //
  // Bytes go to LOCAL.partial first; it is renamed over `local_path` only
  // once every range has arrived with matching CRC32Cs and the sizes agree,
  // so a failed or interrupted download leaves `local_path` as it was (and
  // deletes LOCAL.partial unless options.resume keeps it). The file is read
  // with one Read op per range of a few MiB, all in one batch; the chunks
  // arrive in any order and are written at their offsets (pwrite), so the
  // client holds one chunk at a time. ABORTED when the remote file changed
  // (size or mtime) during the download.
  //
  //   absl::StatusOr<TransferResult> got =
  //       client->GetFile("data/big.bin", "/tmp/big.bin", {.resume = true});
  absl::StatusOr<TransferResult> GetFile(const std::string& remote_path,
                                         const std::string& local_path,
                                         const GetOptions& options = {},
                                         const ProgressFn& progress = nullptr);

  // Streams `remote_path` to `sink` in file order and returns the byte count.
  // Reads windows of `window_bytes` one after another and reorders the chunks
  // of one window, so at most about one window is held in memory.
  absl::StatusOr<uint64_t> Cat(
      const std::string& remote_path,
      const std::function<absl::Status(absl::string_view)>& sink,
      uint64_t window_bytes = 16u << 20);

  // A server-minted temporary name for a piecewise upload of `path`
  // (BeginUpload). UNIMPLEMENTED from a server that predates it.
  absl::StatusOr<v1::Upload> BeginUpload(const std::string& path);

  // The CRC32C of each [offset, offset + length) range of remote `path`,
  // computed by the server without sending the bytes (a detached job of
  // Read ops, whose READ_COMPLETE events carry each range's CRC32C).
  // nullopt for a range that could not be read in full (short file, failed
  // op, events no longer in the server's log). NOT_FOUND when `path` does
  // not exist.
  using Range = std::pair<uint64_t, uint64_t>;  // offset, length
  absl::StatusOr<std::vector<std::optional<uint32_t>>> RemoteCrcs(
      const std::string& path, const std::vector<Range>& ranges);

  // The same for ranges of many files, e.g. whole files for `overlap sync`:
  // a range whose op fails (a missing file, a short read) is nullopt; only
  // PERMISSION_DENIED and UNAUTHENTICATED fail the call.
  struct FileRange {
    std::string path;
    uint64_t offset = 0;
    uint64_t length = 0;
  };
  absl::StatusOr<std::vector<std::optional<uint32_t>>> RemoteCrcs(
      const std::vector<FileRange>& ranges);

  // --- The buffer lane (same host only; shared_buffer.h) ----------------

  struct ReadIntoOptions {
    uint64_t buffer_offset = 0;  // where the byte at `offset` lands
    uint64_t offset = 0;         // in the file
    uint64_t length = 0;         // 0: to EOF (the rest must fit the buffer)
    // Check each chunk's CRC32C against the bytes in the buffer (costs one
    // pass over them on this side; the server computed them anyway).
    bool verify = true;
  };
  struct ReadIntoResult {
    uint64_t bytes = 0;
    uint32_t crc32c = 0;  // of the whole range, from READ_COMPLETE
    uint64_t chunks = 0;
  };
  // Reads a range of remote `path` into `buffer` (registered) with one Read
  // op: the server's workers write the chunks straight into the memory, in
  // parallel; only their offsets, sizes and CRC32Cs come over gRPC.
  //
  //   auto got = client->ReadInto("big.bin", *buf, {.buffer_offset = 4096});
  absl::StatusOr<ReadIntoResult> ReadInto(const std::string& path, const SharedBuffer& buffer,
                                          const ReadIntoOptions& options);
  absl::StatusOr<ReadIntoResult> ReadInto(const std::string& path, const SharedBuffer& buffer) {
    return ReadInto(path, buffer, ReadIntoOptions());
  }

  // Writes `length` bytes of `buffer` at `buffer_offset` to remote `path`
  // (`write` gives offset, mode and durability; its data stays empty) with
  // one Write op whose bytes the server takes from the buffer. Returns the
  // WRITE_COMPLETE event (bytes, crc32c). Leave the range unchanged until
  // this returns.
  absl::StatusOr<v1::Event> WriteFrom(const std::string& path, const SharedBuffer& buffer,
                                      uint64_t buffer_offset, uint64_t length,
                                      const v1::Write& write = v1::Write());

  // Whether transfers (GetFile, Cat) use the lane: kAuto when the server is
  // on this host and its socket answers, kOff never, kRequire always (they
  // fail with the reason when it cannot). `token` registers buffers when
  // the server has --tokens. Connect() sets kOff and its token.
  enum class LaneMode { kAuto, kOff, kRequire };
  void set_lane(LaneMode mode, std::string token) {
    lane_mode_ = mode;
    lane_token_ = std::move(token);
  }
  // A registered buffer of at least `bytes` bytes (kept and reused, grown
  // when too small), or null when the lane does not apply; kRequire turns
  // that into the error saying why.
  absl::StatusOr<SharedBuffer*> LaneBuffer(uint64_t bytes);

  // Waits until the channel is connected, retrying a failed connect under
  // `policy` (a server that is starting or restarting). Returns the last
  // connect error, or OK; a caller may go on either way (its first call then
  // reports the real error, e.g. a TLS failure). Every command of the CLI
  // starts with this, so a transient outage before the first byte is retried
  // for every command, whether or not the command itself is idempotent: no
  // request has reached a server yet.
  absl::Status WaitUntilConnected(const RetryPolicy& policy, const RetryFn& on_retry);

  // From now on every call of this client registers with `cancel` (nullptr:
  // none), so another thread can cancel it; see cancel.h.
  void set_cancel(CancelToken* cancel) { cancel_ = cancel; }
  bool cancelled() const { return cancel_ != nullptr && cancel_->cancelled(); }

 private:
  friend class internal::Uploader;
  friend class internal::Downloader;

  // Cleanup after a failure or a cancel: while one lives, calls ignore the
  // cancel token (a temp file must still be deleted after Ctrl-C).
  class Uncancellable {
   public:
    explicit Uncancellable(Client& client)
        : client_(client), saved_(client.cancel_) {
      client_.cancel_ = nullptr;
    }
    ~Uncancellable() { client_.cancel_ = saved_; }

   private:
    Client& client_;
    CancelToken* saved_;
  };

  // Like Execute, but `on_event` may stop the stream with an error, which is
  // then returned. Used by every convenience call. A BATCH_COMPLETE that
  // carries an error ends the call with that error.
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

  // Capabilities, or nullptr when the server does not implement
  // GetCapabilities (then the client's defaults apply).
  absl::StatusOr<std::unique_ptr<v1::Capabilities>> OptionalCapabilities();

  // The READ_COMPLETE CRC32Cs of the job `job_id` by op tag, read back from
  // the server's event log (see RemoteCrcs).
  // The first OP_FAILED's status goes to `failure`.
  absl::Status CollectJobCrcs(uint64_t job_id, size_t ops,
                              std::vector<std::optional<uint32_t>>* crcs,
                              const std::vector<FileRange>& ranges, size_t first,
                              absl::Status* failure);
  // RemoteCrcs of `ranges`, and the first op failure in `failure`.
  absl::StatusOr<std::vector<std::optional<uint32_t>>> RangeCrcs(
      const std::vector<FileRange>& ranges, absl::Status* failure);

  // One connect attempt of WaitUntilConnected.
  absl::Status TryConnect(absl::Duration timeout);

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::IoService::Stub> stub_;
  CancelToken* cancel_ = nullptr;
  LaneMode lane_mode_ = LaneMode::kOff;
  std::string lane_token_;
  std::unique_ptr<SharedBuffer> lane_buffer_;
  bool lane_checked_ = false;  // kAuto: reachability asked once
};

}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_CLIENT_H_
