#include "ioengine/thread_pool_engine.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>

namespace overlapd::io {

using internal::ChunkIo;

namespace {

// Runs one IO with a blocking system call; returns bytes or -errno, like a
// CQE's res.
int64_t RunIo(ChunkIo* io) {
  size_t len = io->next_transfer();
  ssize_t r = 0;
  switch (io->kind) {
    case ChunkIo::Kind::kRead:
    case ChunkIo::Kind::kCopyRead:
      r = pread(io->fd, io->cursor(), len, io->file_offset());
      break;
    case ChunkIo::Kind::kWrite:
      r = io->offset == ChunkIo::kAtEnd
              ? write(io->fd, io->cursor(), len)
              : pwrite(io->fd, io->cursor(), len, io->file_offset());
      break;
    case ChunkIo::Kind::kFsync:
      r = fsync(io->fd);
      break;
    case ChunkIo::Kind::kFdatasync:
      r = fdatasync(io->fd);
      break;
  }
  return r < 0 ? -errno : r;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> ThreadPoolEngine::Create(
    EngineOptions options) {
  std::unique_ptr<ThreadPoolEngine> engine(new ThreadPoolEngine(options));
  engine->StartWorkers();
  return engine;
}

ThreadPoolEngine::~ThreadPoolEngine() { StopWorkers(); }

bool ThreadPoolEngine::Turn(int wi, bool may_block) {
  Worker& w = *workers_[wi];
  TakeInbox(w);
  // A blocking system call cannot be cancelled once running; NextIo drops
  // the queued IOs of a cancelled op. At most queue_depth IOs a turn, as
  // on a ring: a cancel or a new op waits no longer than that.
  for (uint32_t n = 0; n < options_.queue_depth; ++n) {
    ChunkIo* io = NextIo(w, wi);
    if (io == nullptr) break;
    w.stats.in_kernel.fetch_add(1, std::memory_order_relaxed);
    const int64_t res = RunIo(io);
    w.stats.in_kernel.fetch_sub(1, std::memory_order_relaxed);
    if (CompleteIo(io, res, wi)) Requeue(w, io);
  }
  if (w.ready.empty() && Drained()) return false;
  // Every IO ran to completion above: all that is left to wait for is new
  // work, which a hand-driven turn never waits for.
  if (may_block && w.ready.empty() && !options_.hand_driven && w.inbox.PrepareSleep()) {
    uint64_t value;
    [[maybe_unused]] ssize_t n = read(w.inbox.event_fd(), &value, sizeof(value));
    w.inbox.EndSleep();
  }
  return true;
}

}  // namespace overlapd::io
