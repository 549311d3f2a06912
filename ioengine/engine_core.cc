#include "ioengine/engine_core.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cstdio>

namespace overlapd::io {

using internal::ChunkIo;
using internal::RecordError;
using internal::Task;

namespace {

// How long a cached read fd may serve its path; see FdCache.
constexpr uint64_t kFdCacheMaxAgeNs = 2'000'000'000;
// The `worker` of calls made on a metadata lane thread (no data worker).
constexpr int kMetadataLane = -1;

}  // namespace

uint64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string_view OpTypeName(OpType type) { return TypeInfo(type).name; }

EngineCore::EngineCore(EngineOptions options)
    : options_([&] {
        if (options.workers <= 0) {
          options.workers =
              std::max(1u, std::thread::hardware_concurrency());
        }
        if (options.chunk_bytes == 0) options.chunk_bytes = 1 << 20;
        if (options.queue_depth < 1) options.queue_depth = 1;
        return options;
      }()),
      own_temp_namer_(options_.temp_namer == nullptr
                          ? std::make_unique<TempNamer>(TempNamer::Ephemeral())
                          : nullptr),
      temp_namer_(options_.temp_namer != nullptr ? options_.temp_namer
                                                 : own_temp_namer_.get()),
      fd_cache_(options_.fd_cache_entries, kFdCacheMaxAgeNs),
      dir_snapshots_(DirSnapshotCache::Options::WithMaxBytes(options_.list_cache_bytes)),
      metadata_(options_.metadata_threads),
      chunk_crc_combiner_(options_.chunk_bytes),
      chunk_buffers_(std::make_shared<ChunkBuffers>(options_.chunk_pool_bytes)) {
  for (int i = 0; i < options_.workers; ++i) {
    workers_.push_back(std::make_unique<Worker>());
  }
}

EngineCore::~EngineCore() = default;

void EngineCore::StartWorkers() {
  for (int i = 0; i < workers() && !options_.hand_driven; ++i) {
    workers_[i]->thread = std::thread([this, i] {
      char name[16];
      snprintf(name, sizeof(name), "io-%s-%d", std::string(this->name()).c_str(), i);
      pthread_setname_np(pthread_self(), name);
      while (Turn(i, /*may_block=*/true)) {
      }
    });
  }
  metadata_.Start(name(), [this](Op* op) { Start(op, kMetadataLane); },
                  [this] { return Drained(); });
}

void EngineCore::StopWorkers() {
  stopping_.store(true);
  for (auto& w : workers_) w->inbox.Wake();
  metadata_.Wake();
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  // Hand-driven: a chunk of one worker's op may wait on another worker, so
  // every loop turns in round until all are over.
  for (bool turning = options_.hand_driven; turning;) {
    turning = false;
    for (int i = 0; i < workers(); ++i) turning |= Turn(i, /*may_block=*/false);
  }
  metadata_.Join();
}

void EngineCore::Step(int worker, bool wait) {
  assert(options_.hand_driven && "Step is for hand-driven engines; workers run their own loops");
  Turn(worker, wait);
}

bool EngineCore::Drained() const {
  return stopping_.load(std::memory_order_acquire) &&
         active_ops_.load(std::memory_order_acquire) == 0;
}

void EngineCore::OpDone() {
  if (active_ops_.fetch_sub(1, std::memory_order_acq_rel) == 1 &&
      stopping_.load(std::memory_order_acquire)) {
    for (auto& w : workers_) w->inbox.Wake();
    metadata_.Wake();
  }
}

void EngineCore::Push(int worker, Task* task) {
  Worker& w = *workers_[worker];
  w.stats.pending.fetch_add(1, std::memory_order_relaxed);
  w.inbox.Push(task);
}

bool EngineCore::TakeInbox(Worker& w) {
  Task* chain = w.inbox.TakeAll();
  if (chain == nullptr) return false;
  w.ready.Append(chain);
  return true;
}

ChunkIo* EngineCore::NextIo(Worker& w, int worker) {
  while (Task* t = w.ready.PopFront()) {
    w.stats.pending.fetch_sub(1, std::memory_order_relaxed);
    switch (t->kind) {
      case Task::Kind::kOp:
        RunOpTask(internal::OpOf(t), worker);
        break;
      case Task::Kind::kCancel: {
        auto* cancel = static_cast<internal::CancelTask*>(t->owner);
        CancelOnWorker(worker, cancel->op_id);
        delete cancel;
        break;
      }
      case Task::Kind::kIo: {
        ChunkIo* io = internal::IoOf(t);
        if (!SkipCancelled(io, worker)) return io;
        break;
      }
    }
  }
  return nullptr;
}

void EngineCore::Requeue(Worker& w, ChunkIo* io) {
  w.ready.PushFront(&io->task);
  w.stats.pending.fetch_add(1, std::memory_order_relaxed);
}

void EngineCore::Submit(Op* op) {
  internal::OpState& st = op->state;
  st.engine = this;
  st.id = next_op_id_.fetch_add(1, std::memory_order_relaxed);
  st.file2.reset();
  st.temp_name.clear();
  st.task.owner = op;
  st.task.kind = Task::Kind::kOp;
  st.file.reset();
  st.started = false;
  st.cut_short = false;
  st.next_offset = 0;
  st.end_offset = 0;
  st.assumed_size = File::kSizeUnknown;
  st.chunks_issued = 0;
  st.crc.Reset();
  st.created = false;
  // One reference for the issuer; each IO in flight holds another.
  st.refs.store(1, std::memory_order_relaxed);
  st.bytes_done.store(0, std::memory_order_relaxed);
  st.error.store(0, std::memory_order_relaxed);
  st.eof_offset.store(UINT64_MAX, std::memory_order_relaxed);
  st.step = internal::OpState::Step::kData;
  st.dir_fd = -1;
  st.submit_ns = NowNs();
  st.home_worker = static_cast<int>(
      next_worker_.fetch_add(1, std::memory_order_relaxed) % workers_.size());
  op->result = 0;
  op->bytes = 0;
  active_ops_.fetch_add(1, std::memory_order_relaxed);
  if (RunsOnMetadataLane(op->type)) {
    metadata_.Push(op);  // runs Start there
  } else {
    Push(st.home_worker, &st.task);
  }
}

void EngineCore::Resume(Op* op) { Push(op->state.home_worker, &op->state.task); }

void EngineCore::Cancel(Op* op) {
  if (op->cancelled.exchange(true, std::memory_order_acq_rel)) return;
  CancelInFlight(op->state.id);
}

bool EngineCore::SkipCancelled(ChunkIo* io, int worker) {
  if (!io->op->cancelled.load(std::memory_order_relaxed)) return false;
  // Fsyncs still run: a cancelled atomic replace may be past its rename,
  // and the directory must then be synced like any finished one.
  if (io->kind == ChunkIo::Kind::kFsync || io->kind == ChunkIo::Kind::kFdatasync) {
    return false;
  }
  CompleteIo(io, -ECANCELED, worker);
  return true;
}

void EngineCore::RunOpTask(Op* op, int worker) {
  if (!op->state.started) {
    Start(op, worker);
  } else {
    IssueChunks(op, worker);
  }
}

void EngineCore::Start(Op* op, int worker) {
  internal::OpState& st = op->state;
  st.started = true;
  st.start_ns = NowNs();
  if (op->cancelled.load(std::memory_order_relaxed)) {
    st.cut_short = true;
    Finish(op, worker);
    return;
  }
  switch (op->type) {
    case OpType::kRead:
      StartRead(op, worker);
      return;
    case OpType::kWrite:
      StartWrite(op, worker);
      return;
    case OpType::kFsync:
      StartFsync(op, worker);
      return;
    // These five run on the metadata lane (see Submit).
    case OpType::kStat:
      RunStat(op);
      break;
    case OpType::kList:
      RunList(op);
      break;
    case OpType::kCopy:
      StartCopy(op, worker);
      return;
    case OpType::kRename:
      RunRename(op);
      break;
    case OpType::kDelete:
      RunDelete(op);
      break;
    case OpType::kMkdir:
      RunMkdir(op);
      break;
  }
  Finish(op, worker);
}

void EngineCore::DropRef(Op* op, int worker) {
  const uint32_t before = op->state.refs.fetch_sub(1, std::memory_order_acq_rel);
  assert(before != 0 && "an op's reference dropped twice");
  if (before == 1) {
    StepOrFinish(op, worker);
  }
}

// Runs when an op has no IO in flight: issues its next step, or finishes
// it. After the data of a write or copy:
//   DATA          fdatasync
//   FULL          fsync, then fsync of the parent directory (a new name
//                 survives a crash too)
//   atomic write  fdatasync of the temp file, rename over the target, fsync
//                 of the directory
//   copy          (fdatasync of the temp file with DATA or FULL), rename over
//                 the destination, (fsync of the directory with FULL)
// A cancel or an error skips the steps not begun; once renamed, the op is
// done whatever comes.
void EngineCore::StepOrFinish(Op* op, int worker) {
  internal::OpState& st = op->state;
  if (ReadOnPastAssumedSize(op, worker)) return;
  using Step = internal::OpState::Step;
  const bool atomic = op->type == OpType::kWrite && op->mode == WriteMode::kReplaceAtomic;
  const bool via_temp = atomic || op->type == OpType::kCopy;
  const bool writes = TypeInfo(op->type).writes_file;
  const Durability durability = op->durability;
  if (!writes || st.error.load(std::memory_order_acquire) != 0) {
    Finish(op, worker);
    return;
  }
  if (op->cancelled.load(std::memory_order_relaxed) && st.step != Step::kRenamed) {
    st.cut_short = true;
    Finish(op, worker);
    return;
  }
  switch (st.step) {
    case Step::kData:
      st.step = Step::kFileSynced;
      if (atomic || durability != Durability::kNone) {
        // A temp file needs its data only: the directory fsync after the
        // rename makes the name durable.
        const bool full = durability == Durability::kFull && !via_temp;
        const int data_fd = (op->type == OpType::kCopy ? st.file2 : st.file)->fd();
        IssueIo(op, full ? ChunkIo::Kind::kFsync : ChunkIo::Kind::kFdatasync, data_fd, worker);
        return;
      }
      [[fallthrough]];
    case Step::kFileSynced:
      st.step = Step::kRenamed;
      if (via_temp && !RenameTempOverTarget(op)) break;
      if (atomic || durability == Durability::kFull) {
        if (st.dir_fd < 0) {
          std::string leaf;
          st.dir_fd = OpenParent(op, op->path, &leaf);
          if (st.dir_fd < 0) {
            RecordError(st, st.dir_fd);
            break;
          }
        }
        IssueIo(op, ChunkIo::Kind::kFsync, st.dir_fd, worker);
        return;
      }
      break;
    case Step::kRenamed:
      break;
  }
  Finish(op, worker);
}

void EngineCore::Finish(Op* op, int worker) {
  internal::OpState& st = op->state;
  int err = st.error.load(std::memory_order_acquire);
  if (err == 0 && st.cut_short) err = -ECANCELED;
  op->result = err;
  op->bytes = st.bytes_done.load(std::memory_order_acquire);
  if (TypeInfo(op->type).reads_file) {
    op->crc32c = st.crc.value();
  }
  uint64_t now = NowNs();
  op->queued_ns = st.start_ns - st.submit_ns;
  op->service_ns = now - st.start_ns;
  if (err != 0 && st.created && op->bytes == 0) RemoveCreated(op);
  if (!st.temp_name.empty()) {
    // An atomic replace that failed or was cancelled before its rename:
    // the target is untouched, and its temp file goes.
    unlinkat(st.dir_fd, st.temp_name.c_str(), 0);
    st.temp_name.clear();
  }
  st.file.reset();
  st.file2.reset();
  if (st.dir_fd >= 0) {
    close(st.dir_fd);
    st.dir_fd = -1;
  }
  // After OnComplete the op belongs to the caller again: read what is
  // needed first.
  Op* next = op->link_next;
  OpSink* sink = op->sink;
  sink->OnComplete(*op);
  if (next != nullptr) {
    if (err == 0) {
      Submit(next);
    } else {
      CancelChain(next);
    }
  }
  OpDone();
}

void EngineCore::CancelChain(Op* op) {
  while (op != nullptr) {
    Op* next = op->link_next;
    op->result = -ECANCELED;
    op->bytes = 0;
    op->queued_ns = 0;
    op->service_ns = 0;
    op->sink->OnComplete(*op);
    op = next;
  }
}

}  // namespace overlapd::io
