// What every backend shares: worker inboxes, the op state machine (open,
// split into chunks, charge credit, finish, follow links) and the bookkeeping
// of chunks and durability steps. A backend only says how one IO runs (an
// io_uring SQE, or a pread on a pool thread) and drives its worker loop.
//
// EngineCore's members live in one file per concern:
//   engine_core.cc   the op's life: submit, start, dispatch, cancel, the
//                    durability steps after its data (StepOrFinish), finish, links
//   engine_data.cc   reads, writes, copies and fsyncs: sizing, chunks, IO
//                    completion, CRCs
//   engine_paths.cc  opening paths beneath the root or a token's prefix,
//                    temp files, and the path ops (rename, delete, mkdir,
//                    stat, list)
// The worker inbox is in inbox.h, ReadCredit in read_credit.cc, the CRC
// folding in crc_folder.h.
#ifndef OVERLAPD_IOENGINE_ENGINE_CORE_H_
#define OVERLAPD_IOENGINE_ENGINE_CORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"
#include "ioengine/chunk_buffers.h"
#include "ioengine/crc32c.h"
#include "ioengine/dir_snapshot.h"
#include "ioengine/engine.h"
#include "ioengine/fd_cache.h"
#include "ioengine/metadata_lane.h"
#include "ioengine/inbox.h"
#include "ioengine/sandbox.h"

namespace overlapd::io {

uint64_t NowNs();  // CLOCK_MONOTONIC

namespace internal {

// One system call's worth of work: a chunk of a read or write, or an fsync.
// Allocated per chunk because a read chunk owns the buffer that leaves with
// its event; the chunk header is small next to that buffer.
struct ChunkIo {
  ChunkIo() { task.owner = this; }
  Task task{nullptr, Task::Kind::kIo};
  // kCopyRead reads a chunk of a copy's source; once read, the same ChunkIo
  // becomes a kWrite of those bytes to the destination.
  enum class Kind : uint8_t { kRead, kWrite, kFsync, kFdatasync, kCopyRead } kind;
  Op* op = nullptr;
  uint64_t op_id = 0;  // op->state.id, compared by cancel requests
  uint64_t credit_bytes = 0;  // ReadCredit this chunk holds (copies)
  int fd = -1;
  // File offset; kAtEnd writes at the file position (O_APPEND).
  uint64_t offset = 0;
  uint64_t len = 0;
  // Bytes transferred so far: a short transfer resubmits the remainder.
  uint64_t done = 0;
  uint64_t index = 0;  // chunk index within the op
  char* buf = nullptr;
  std::string data;  // read buffer, handed to the sink
  // O_DIRECT reads land here instead (aligned), lengths rounded up.
  std::unique_ptr<char, void (*)(void*)> aligned{nullptr, free};
  // The io_uring backend's list of IOs in the kernel, for cancellation.
  ChunkIo* prev_in_flight = nullptr;
  ChunkIo* next_in_flight = nullptr;

  static constexpr uint64_t kAtEnd = UINT64_MAX;
  // One system call transfers at most this much; the rest is a short
  // transfer, resubmitted. Keeps lengths inside an SQE's 32-bit field.
  static constexpr uint64_t kMaxTransfer = 1u << 30;
  // Where the next transfer of this IO starts.
  char* cursor() const { return buf + done; }
  uint64_t remaining() const { return len - done; }
  // Bytes the next system call asks for.
  uint64_t next_transfer() const {
    return remaining() < kMaxTransfer ? remaining() : kMaxTransfer;
  }
  int64_t file_offset() const {
    return offset == kAtEnd ? -1 : static_cast<int64_t>(offset + done);
  }
};

// Asks a worker to cancel the IOs of one op that it has in the kernel.
struct CancelTask {
  CancelTask() { task.owner = this; }
  Task task{nullptr, Task::Kind::kCancel};
  uint64_t op_id = 0;
};

// Keeps the first error an op meets (-errno); later ones are dropped.
inline void RecordError(OpState& st, int err) {
  int expected = 0;
  st.error.compare_exchange_strong(expected, err, std::memory_order_acq_rel);
}

inline Op* OpOf(Task* t) { return static_cast<Op*>(t->owner); }
inline ChunkIo* IoOf(Task* t) { return static_cast<ChunkIo*>(t->owner); }

}  // namespace internal

class EngineCore : public Engine {
 public:
  explicit EngineCore(EngineOptions options);
  ~EngineCore() override;

  void Submit(Op* op) final;
  void Cancel(Op* op) final;
  void Step(int worker, bool wait) final;
  int workers() const final { return static_cast<int>(workers_.size()); }
  const WorkerStats& worker_stats(int worker) const final {
    return workers_[worker]->stats;
  }
  const EngineOptions& options() const final { return options_; }
  FdCacheStats fd_cache_stats() const final { return fd_cache_.stats(); }
  std::function<void(std::string)> ChunkRecycler() final {
    return [pool = chunk_buffers_](std::string data) { pool->Give(std::move(data)); };
  }

  // Resumes an op parked on its ReadCredit.
  void Resume(Op* op);

  // The sorted directory names List pages through (for tests and stats).
  const DirSnapshotCache& dir_snapshots() const { return dir_snapshots_; }

 protected:
  struct Worker {
    internal::Inbox inbox;
    internal::TaskList ready;  // taken from the inbox, not yet started
    WorkerStats stats;
    std::thread thread;
  };

  // Backends start their loops after construction and call StopWorkers() in
  // their destructor, before their own members go. Both cover the metadata
  // lane's threads too. A hand-driven engine starts no worker thread, and
  // StopWorkers turns its loops on the calling thread until every op is done.
  void StartWorkers();
  void StopWorkers();
  // One turn of a worker's loop (Engine::Step says what one turn does).
  // `may_block`: the turn may wait, for an IO's completion or (on a worker
  // thread) for new work. Returns false once the engine is stopping and
  // every op has completed: the loop is over.
  virtual bool Turn(int worker, bool may_block) = 0;
  // Backends that can cancel IOs in the kernel queue a CancelTask per worker
  // (CancelInFlight), which that worker then carries out (CancelOnWorker).
  virtual void CancelInFlight(uint64_t op_id) {}
  virtual void CancelOnWorker(int worker, uint64_t op_id) {}
  // Completes an IO of a cancelled op without running it. Returns true if
  // it did (the backend must then not submit it).
  bool SkipCancelled(internal::ChunkIo* io, int worker);
  void PushTask(int worker, internal::Task* task) { Push(worker, task); }

  // Moves the inbox into the ready list. Returns true if anything came.
  bool TakeInbox(Worker& w);
  // Works through the ready list, running what is not an IO (op starts and
  // resumes, cancel requests, IOs of cancelled ops), and returns the next
  // IO the backend must run, or null once the list is empty.
  internal::ChunkIo* NextIo(Worker& w, int worker);
  // Puts an IO back at the head of the ready list: a full SQ, or the rest
  // of a short transfer.
  void Requeue(Worker& w, internal::ChunkIo* io);
  // Runs a kOp task: starts the op, or issues more chunks after a resume.
  void RunOpTask(Op* op, int worker);
  // Accounts for one IO's result (`res` bytes, or -errno). Returns true when
  // the IO must be submitted again: a short transfer (the remainder) or
  // EINTR/EAGAIN. Otherwise the IO is finished and freed.
  bool CompleteIo(internal::ChunkIo* io, int64_t res, int worker);
  // True once Stop was asked and every op has completed.
  bool Drained() const;

  const EngineOptions options_;
  std::vector<std::unique_ptr<Worker>> workers_;

 private:
  void Start(Op* op, int worker);
  void StartRead(Op* op, int worker);
  bool SizeOf(Op* op, uint64_t* size);
  bool ReadOnPastAssumedSize(Op* op, int worker);
  bool OverReadLimit(uint64_t start, uint64_t end) const;
  // Runs `open(dir_fd, rest)` for `path` beneath the op's base (the root,
  // or its token's prefix directory); sheds cached fds on EMFILE.
  int InBase(const Op* op, std::string_view path,
             absl::FunctionRef<int(int dir_fd, std::string_view rest)> open);
  int Open(const Op* op, std::string_view path, int flags, mode_t mode, Want want);
  int OpenParent(const Op* op, std::string_view path, std::string* leaf);
  void RemoveCreated(Op* op);
  void StartWrite(Op* op, int worker);
  void StartFsync(Op* op, int worker);
  void StartCopy(Op* op, int worker);
  void RunRename(Op* op);
  void RunDelete(Op* op);
  void RunMkdir(Op* op);
  std::shared_ptr<File> OpenTempBeside(Op* op, std::string_view target);
  bool RenameTempOverTarget(Op* op);
  void RunStat(Op* op);
  void RunList(Op* op);
  void IssueChunks(Op* op, int worker);
  void IssueIo(Op* op, internal::ChunkIo::Kind kind, int fd, int worker);
  void FinishReadChunk(internal::ChunkIo* io);
  static int CheckBufferRoom(const Op& op, uint64_t start, uint64_t end);
  // The bytes a write takes: Op::buffer's range, or Op::data.
  static std::string_view WriteData(const Op& op) {
    return op.buffer != nullptr ? std::string_view(op.buffer, op.buffer_bytes)
                                : std::string_view(op.data);
  }
  // The length of the chunk of a read that starts at file offset `start`
  // (before any O_DIRECT rounding).
  uint64_t ChunkLen(const Op& op, uint64_t start) const {
    const uint64_t left = op.state.end_offset - start;
    return left < options_.chunk_bytes ? left : options_.chunk_bytes;
  }
  void DropRef(Op* op, int worker);
  void StepOrFinish(Op* op, int worker);
  void Finish(Op* op, int worker);
  void CancelChain(Op* op);
  void Push(int worker, internal::Task* task);
  void OpDone();

  const std::unique_ptr<TempNamer> own_temp_namer_;
  const TempNamer* const temp_namer_;
  FdCache fd_cache_;
  DirSnapshotCache dir_snapshots_;
  // Runs the ops RunsOnMetadataLane names, off the data workers.
  MetadataLane metadata_;
  Crc32cCombiner chunk_crc_combiner_;  // for chunk_bytes-long chunks
  // Read chunks' buffers, recycled; shared with the recyclers handed out,
  // which may outlive the engine.
  std::shared_ptr<ChunkBuffers> chunk_buffers_;
  std::atomic<uint32_t> next_worker_{0};
  std::atomic<uint64_t> next_op_id_{1};
  std::atomic<int64_t> active_ops_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace overlapd::io

#endif  // OVERLAPD_IOENGINE_ENGINE_CORE_H_
