// The overlapd IO engine: many file operations in flight at once on every
// core, completions delivered to a sink as they finish, in any order.
//
// Plain C++: no gRPC or protobuf here. The service translates its requests
// into `Op`s once, at the edge, and its events out of `OpSink` calls.
//
// Example:
//
//   EngineOptions opts;
//   opts.root_fd = open("/srv/data", O_RDONLY | O_DIRECTORY);
//   auto engine = CreateEngine(EngineKind::kAuto, opts).value();
//   ReadCredit credit(64 << 20);
//   Op op;
//   op.type = OpType::kRead;
//   op.path = "dataset/part-0001";
//   op.credit = &credit;
//   op.sink = &my_sink;     // OnReadChunk per chunk, then OnComplete once
//   engine->Submit(&op);
#ifndef OVERLAPD_IOENGINE_ENGINE_H_
#define OVERLAPD_IOENGINE_ENGINE_H_

#include <atomic>
#include <map>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "ioengine/fd_cache.h"

#include "absl/status/statusor.h"
#include "ioengine/crc32c.h"
#include "ioengine/crc_folder.h"
#include "ioengine/temp_names.h"

namespace overlapd::io {

class Engine;
class EngineCore;
class File;
struct Op;

enum class OpType : uint8_t {
  kRead, kWrite, kFsync, kStat, kList, kCopy, kRename, kDelete, kMkdir
};

// What the engine needs to know of each op kind, in one table indexed by
// OpType (the behaviour itself is EngineCore::Start's exhaustive switch).
// The service's table (service/op_table.h) adds the proto side.
struct OpTypeInfo {
  OpType type;
  std::string_view name;  // also the `op` label of the metrics
  bool reads_file;        // bytes read: counted as read, charged to ReadCredit
  bool writes_file;       // bytes written
  bool metadata;          // runs on the metadata lane, not on a data worker
};
inline constexpr OpTypeInfo kOpTypes[] = {
    // type            name      reads  writes metadata
    {OpType::kRead,   "read",   true,  false, false},
    {OpType::kWrite,  "write",  false, true,  false},
    {OpType::kFsync,  "fsync",  false, false, false},
    {OpType::kStat,   "stat",   false, false, true},
    {OpType::kList,   "list",   false, false, true},
    {OpType::kCopy,   "copy",   true,  true,  false},
    {OpType::kRename, "rename", false, false, true},
    {OpType::kDelete, "delete", false, false, true},
    {OpType::kMkdir,  "mkdir",  false, false, true},
};
inline constexpr size_t kOpTypeCount = sizeof(kOpTypes) / sizeof(kOpTypes[0]);
constexpr const OpTypeInfo& TypeInfo(OpType type) { return kOpTypes[static_cast<size_t>(type)]; }
static_assert([] {
  for (size_t i = 0; i < kOpTypeCount; ++i) {
    if (static_cast<size_t>(kOpTypes[i].type) != i) return false;
  }
  return true;
}(), "kOpTypes is indexed by OpType");
enum class WriteMode : uint8_t {
  kAt, kCreateNew, kTruncate, kAppend,
  // Temp file in the same directory, fdatasync, rename over the target,
  // fsync the directory: readers see the old file or the new, never a mix.
  kReplaceAtomic
};

// Alignment of O_DIRECT offsets, lengths and buffers (the page size covers
// every logical block size in use).
inline constexpr uint64_t kDirectAlign = 4096;
enum class Durability : uint8_t { kNone, kData, kFull };
enum class FileType : uint8_t { kUnknown, kRegular, kDirectory, kSymlink, kOther };

std::string_view OpTypeName(OpType type);

struct FileInfo {
  std::string name;
  FileType type = FileType::kUnknown;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint32_t mode = 0;  // permission bits
};

// Receives the results of ops. Called on engine worker threads (and the
// metadata lane's, for Stat, List, Mkdir, Rename, Delete), possibly on
// several at once for one op (its chunks run on every worker): it must be
// thread-safe and must not block. The DESIGN's rule: copy, push, return.
class OpSink {
 public:
  virtual ~OpSink() = default;

  // One chunk of a read, `data` at file offset `offset`. The sink owns `data`.
  // Its bytes stay charged to `op.credit` until the sink calls
  // `op.credit->Release(data.size())`, normally once the bytes have left the
  // process; that is what bounds memory when a consumer is slow.
  virtual void OnReadChunk(Op& op, uint64_t offset, std::string data,
                           uint32_t crc32c) = 0;

  // One chunk of a read into the op's buffer (Op::buffer): `bytes` bytes of
  // the file at `offset` are now in the buffer at `offset - op.offset`.
  // Nothing is charged to the op's credit. Sinks that never run such reads
  // need not override it.
  virtual void OnBufferChunk(Op& op, uint64_t offset, uint64_t bytes, uint32_t crc32c) {}

  // The op has finished: its result fields are set. Called exactly once per
  // op, after every OnReadChunk of that op. From this call on the engine
  // never touches `op` again; the sink may free it.
  virtual void OnComplete(Op& op) = 0;
};

// A budget of read bytes in flight, shared by the ops of one consumer (a
// stream or a job). The engine takes credit before it issues a read chunk and
// parks the op when none is left; Release() gives credit back and resumes
// parked ops. A single chunk is always allowed when nothing is charged, so a
// limit below the chunk size slows a consumer down but never deadlocks it.
//
// A credit may have a parent: a server-wide budget above every stream's.
// A chunk then takes from both; when the parent has too little, the op
// parks on the parent until any consumer releases parent credit (every op
// parked there retries then). Lock order: a credit, then its parent.
// Thread-safe. Must outlive every op that names it (a parent: every child).
class ReadCredit {
 public:
  explicit ReadCredit(uint64_t limit, ReadCredit* parent = nullptr)
      : limit_(limit), parent_(parent) {}
  ReadCredit(const ReadCredit&) = delete;
  ReadCredit& operator=(const ReadCredit&) = delete;

  // Returns `bytes` taken by a chunk; resumes ops waiting for credit.
  void Release(uint64_t bytes);

  // Lifts the limit for good and resumes every parked op: for teardown, so
  // that cancelled ops parked here run to their end (those parked on the
  // parent too: they retry, and a cancelled one finishes).
  void Open();

  uint64_t in_use() const;
  uint64_t limit() const;
  // Ops parked here now, waiting for credit.
  size_t parked() const;

 private:
  friend class EngineCore;
  // Takes `bytes`, or parks `op` (to be resubmitted on Release) and returns
  // false.
  bool TakeOrPark(uint64_t bytes, Op* op);

  // Resumes every op parked here.
  void WakeAll();

  mutable absl::Mutex mu_;
  uint64_t limit_ ABSL_GUARDED_BY(mu_);
  ReadCredit* const parent_;
  uint64_t used_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Op*> parked_ ABSL_GUARDED_BY(mu_);
};

namespace internal {
// An entry of a worker's intrusive queue (TigerBeetle-style: the queued thing
// carries its own link, so queueing never allocates).
struct Task {
  Task* next = nullptr;
  enum class Kind : uint8_t { kOp, kIo, kCancel } kind = Kind::kOp;
  void* owner = nullptr;  // the Op or the internal::ChunkIo this task queues
};

// Engine-private state of an op; see engine_core.cc.
struct OpState {
  Task task;  // queues the op itself (start, resume after credit)
  EngineCore* engine = nullptr;
  uint64_t id = 0;  // unique per submission; cancel requests name it
  std::shared_ptr<File> file;
  std::shared_ptr<File> file2;  // copy destination
  std::string temp_name;        // atomic replace or copy: temp file, until renamed
  int home_worker = 0;
  bool started = false;
  bool cut_short = false;  // cancelled with work left undone
  uint64_t next_offset = 0;  // issue cursor; only the issuing worker moves it
  uint64_t end_offset = 0;
  // A read to EOF sized from File::size_seen: the size it assumed (the read
  // is planned one byte past it, to notice a file that grew), else
  // File::kSizeUnknown.
  uint64_t assumed_size = UINT64_MAX;
  uint64_t chunks_issued = 0;
  // CRC32C of the range so far, folded in chunk order as chunks finish.
  CrcFolder crc;
  bool created = false;  // a write created its file (removed if it fails)
  std::atomic<uint32_t> refs{0};
  std::atomic<uint64_t> bytes_done{0};
  std::atomic<int> error{0};  // first -errno seen
  std::atomic<uint64_t> eof_offset{UINT64_MAX};
  // Where a write or copy stands after its data (see EngineCore::StepOrFinish).
  enum class Step : uint8_t { kData, kFileSynced, kRenamed } step = Step::kData;
  int dir_fd = -1;
  uint64_t submit_ns = 0;
  uint64_t start_ns = 0;
};
}  // namespace internal

// One file operation. The caller owns it (no allocation per op in the
// engine); it must stay alive and unmodified from Submit until
// OpSink::OnComplete. Set the request fields, Submit, read the result fields
// in OnComplete.
struct Op {
  // ---- request ----
  OpType type = OpType::kRead;
  std::string path;
  // Copy and Rename: the destination.
  std::string dst_path;
  uint64_t offset = 0;
  // Read: bytes to read, 0 = to end of file.
  uint64_t length = 0;
  // Write.
  std::string data;
  WriteMode mode = WriteMode::kAt;
  Durability durability = Durability::kNone;
  std::optional<uint32_t> expected_crc32c;
  // Fsync: fdatasync instead of fsync.
  bool data_only = false;
  // Resolve every path beneath this directory of the root (a token's path
  // prefix, e.g. "team"; "" = the root): the kernel then keeps the op inside
  // it whatever symlinks the paths meet. Paths still name files from the
  // root ("team/a.txt") and must lie under it.
  std::string base;
  // Rename: fail with EEXIST rather than replace. Delete: remove a
  // directory. Mkdir: create parents, succeed if it exists.
  bool no_replace = false;
  bool directory = false;
  bool parents = false;
  // List paging.
  std::string start_after;
  uint32_t limit = 0;
  // Read: hand chunk bytes to the sink (false: checksum and count only).
  bool deliver_data = true;
  // Read: O_DIRECT, bypassing the page cache. `offset` must be a multiple
  // of kDirectAlign (EINVAL otherwise); the engine aligns buffers and
  // lengths, and copies each chunk out of its aligned buffer.
  bool direct = false;
  // Read: the consumer's budget of bytes in flight (required for reads).
  ReadCredit* credit = nullptr;
  // Memory of the caller's (a client's shared buffer, mapped: see
  // mapped_buffer.h) that the op's bytes go to or come from, with no buffer
  // of the engine's in between. Read: byte `offset + i` of the file lands in
  // `buffer[i]`, never past `buffer_bytes` (a read to EOF of a file with
  // more left fails with -EOVERFLOW before any IO; an O_DIRECT read needs
  // an aligned `buffer` and room for its rounded-up length, else -EINVAL);
  // chunks are reported by OnBufferChunk and charge no ReadCredit, as the
  // caller's memory bounds them. Write: the data is `buffer[0,
  // buffer_bytes)` instead of `data`. Must stay mapped until OnComplete.
  char* buffer = nullptr;
  uint64_t buffer_bytes = 0;
  OpSink* sink = nullptr;
  // The next op of a link_next chain: submitted when this one succeeds,
  // completed with -ECANCELED (without running) when it fails or is cancelled.
  Op* link_next = nullptr;
  // For the caller; the engine never reads it.
  void* user = nullptr;

  // ---- result (valid in OnComplete) ----
  // 0, or -errno of the first failure (-EBADMSG: expected_crc32c mismatch;
  // -ECANCELED: cancelled or a link before it failed; -E2BIG: a Read or
  // Copy over max_read_bytes; -ENOTREG (sandbox.h): not a regular file).
  int result = 0;
  // Bytes read or written (also on failure: what was done).
  uint64_t bytes = 0;
  // CRC32C of the whole range read or of the data written.
  uint32_t crc32c = 0;
  FileInfo stat;                  // kStat
  std::vector<FileInfo> entries;  // kList
  bool more_entries = false;      // kList
  uint64_t queued_ns = 0;         // accepted -> started
  uint64_t service_ns = 0;        // started -> completed

  // Bytes read, written or copied so far, while the op runs: for progress
  // reports. Thread-safe; valid between Submit and OnComplete.
  uint64_t progress_bytes() const {
    return state.bytes_done.load(std::memory_order_relaxed);
  }

  // Set by Engine::Cancel.
  std::atomic<bool> cancelled{false};
  internal::OpState state;
};

// Per-worker gauges, updated with relaxed atomics on the hot path and read by
// the metrics exporter at scrape time.
struct WorkerStats {
  std::atomic<int64_t> in_kernel{0};  // IOs submitted, not yet completed
  std::atomic<int64_t> pending{0};    // tasks accepted, not yet submitted
};

enum class EngineKind { kAuto, kUring, kThreads };

struct EngineOptions {
  // Directory fd every path resolves beneath. Not owned.
  int root_fd = -1;
  // Worker threads; 0 = one per core.
  int workers = 0;
  // Reads and writes are split into chunks of this size, spread over workers.
  uint64_t chunk_bytes = 1 << 20;
  // IOs in flight per worker (io_uring: the ring has one entry more, for
  // the wake-up read).
  uint32_t queue_depth = 256;
  // Capacity of read chunk buffers kept for reuse once their consumer hands
  // them back (Engine::ChunkRecycler, chunk_buffers.h); 0 keeps none.
  uint64_t chunk_pool_bytes = 64 << 20;
  // Open files kept for reads; 0 disables the cache.
  size_t fd_cache_entries = 16384;
  // Files the engine may hold open at once (cached and in use); an op that
  // would open more sheds cached files first, then fails with EMFILE
  // (RESOURCE_EXHAUSTED), so that the rest of the process's descriptors
  // stay free for connections. 0: no limit of its own.
  size_t max_open_files = 0;
  // Largest range one Read or Copy may cover, reads to EOF included (-E2BIG
  // beyond it); 0: no limit.
  uint64_t max_read_bytes = 0;
  // Bytes of sorted directory listings kept between List pages
  // (dir_snapshot.h); 0: every List page reads its whole directory.
  size_t list_cache_bytes = 64 << 20;
  // Threads of the metadata lane (metadata_lane.h), which runs Stat, List,
  // Mkdir, Rename and Delete apart from the data workers.
  int metadata_threads = 2;
  // io_uring: let a kernel thread poll the SQ (root or CAP_SYS_NICE).
  bool sqpoll = false;
  // Tests: no worker threads; the caller runs each worker's loop one turn
  // at a time with Engine::Step, so that a test decides exactly what the
  // engine does between two checks (the metadata lane keeps its threads).
  bool hand_driven = false;
  // Mints the names of atomic replaces' temp files (temp_names.h). Not
  // owned; null: the engine makes an ephemeral one (nothing it leaves
  // behind is ever proven, so nothing is swept).
  const TempNamer* temp_namer = nullptr;
};

// The engine interface. Backends: UringEngine (uring_engine.h) and
// ThreadPoolEngine (thread_pool_engine.h). Destroying an engine waits for
// every submitted op to complete.
class Engine {
 public:
  virtual ~Engine() = default;

  // Starts `op` (ops chained by link_next follow it). Thread-safe; never
  // blocks and never calls the sink on the calling thread.
  virtual void Submit(Op* op) = 0;

  // Asks `op` to stop: chunks not yet issued never start, IOs in the kernel
  // are cancelled where the kernel can (IORING_OP_ASYNC_CANCEL), durability
  // steps not yet begun are skipped, an atomic replace removes its temp
  // file, and the op completes with -ECANCELED and the bytes done so far.
  // Thread-safe and idempotent. The op's memory must be valid; on an op that
  // has already completed it does nothing (cancel requests name the
  // submission, not the address). An op not yet submitted (the tail of a
  // link_next chain) completes as cancelled when its turn comes. An op
  // parked on its ReadCredit resumes once credit is released or opened.
  virtual void Cancel(Op* op) = 0;

  // "uring" or "threads".
  virtual std::string_view name() const = 0;
  // Optional features in use (e.g. "sqpoll"), for GetCapabilities.
  virtual std::vector<std::string> features() const { return {}; }
  virtual int workers() const = 0;
  // Where a chunk's buffer (OpSink::OnReadChunk's `data`) goes once its
  // bytes are consumed, for a later chunk to read into without allocating
  // or zero-filling it. Callable from any thread, also after the engine is
  // gone; empty when the engine keeps no buffers.
  virtual std::function<void(std::string)> ChunkRecycler() { return {}; }
  virtual const WorkerStats& worker_stats(int worker) const = 0;
  virtual const EngineOptions& options() const = 0;
  // Lookups of the open-file cache (for the metrics exporter).
  virtual FdCacheStats fd_cache_stats() const { return {}; }

  // Hand-driven engines only (EngineOptions::hand_driven): runs one turn of
  // `worker`'s loop on the calling thread: takes its inbox, starts ops,
  // issues the IOs that fit in its queue depth, then, if `wait` and it has
  // IO in flight, waits for at least one to complete; reaps what completed
  // and runs the completions (the sink is called on this thread). Never
  // waits for new work. Example (a ring of depth 1):
  //
  //   options.hand_driven = true; options.workers = 1; options.queue_depth = 1;
  //   engine->Submit(&read);
  //   while (!done) engine->Step(0, /*wait=*/true);   // one chunk per turn
  virtual void Step(int worker, bool wait) = 0;
};

// Creates the engine of `kind`. kAuto probes io_uring and falls back to the
// thread pool (logging why) when it is missing or refused (seccomp, memlock);
// then `fallback_reason`, when given, receives why (empty otherwise).
absl::StatusOr<std::unique_ptr<Engine>> CreateEngine(EngineKind kind,
                                                     EngineOptions options,
                                                     std::string* fallback_reason = nullptr);

}  // namespace overlapd::io

#endif  // OVERLAPD_IOENGINE_ENGINE_H_
