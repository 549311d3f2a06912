#include "ioengine/uring_engine.h"

#include <errno.h>
#include <string.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace overlapd::io {

using internal::ChunkIo;

namespace {

constexpr unsigned kReapBatch = 64;

// Returns an SQE, submitting what is queued first if the SQ is full. Null
// when even that frees none (the kernel has not consumed the SQ yet).
io_uring_sqe* GetSqe(io_uring* ring) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  if (sqe == nullptr) {
    io_uring_submit(ring);
    sqe = io_uring_get_sqe(ring);
  }
  return sqe;
}

void Prep(io_uring_sqe* sqe, ChunkIo* io) {
  unsigned len = static_cast<unsigned>(io->next_transfer());
  switch (io->kind) {
    case ChunkIo::Kind::kRead:
    case ChunkIo::Kind::kCopyRead:
      io_uring_prep_read(sqe, io->fd, io->cursor(), len,
                         static_cast<__u64>(io->file_offset()));
      break;
    case ChunkIo::Kind::kWrite:
      io_uring_prep_write(sqe, io->fd, io->cursor(), len,
                          static_cast<__u64>(io->file_offset()));
      break;
    case ChunkIo::Kind::kFsync:
      io_uring_prep_fsync(sqe, io->fd, 0);
      break;
    case ChunkIo::Kind::kFdatasync:
      io_uring_prep_fsync(sqe, io->fd, IORING_FSYNC_DATASYNC);
      break;
  }
  io_uring_sqe_set_data(sqe, io);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> UringEngine::Create(
    EngineOptions options) {
  std::unique_ptr<UringEngine> engine(new UringEngine(options));
  absl::Status status = engine->Init();
  if (!status.ok()) return status;
  engine->StartWorkers();
  return engine;
}

namespace {

// Why io_uring_setup(2) fails where it does, for the log line and the
// overlapd_engine_info metric of a fallback to threads.
const char* SetupHint(int err) {
  switch (err) {
    case EPERM:
      return " (refused: a seccomp profile that blocks io_uring, as the default ones of "
             "Docker >= 25, containerd >= 2.0 and Kubernetes RuntimeDefault do; see "
             "deploy/seccomp/overlapd.json; or sysctl kernel.io_uring_disabled)";
    case ENOSYS:
      return " (this kernel has no io_uring, or a seccomp profile answers ENOSYS for it)";
    case ENOMEM:
      return " (not enough locked memory for the ring: raise RLIMIT_MEMLOCK, e.g. "
             "LimitMEMLOCK=infinity or ulimit -l unlimited)";
    default:
      return "";
  }
}

}  // namespace

absl::Status UringEngine::Init() {
  for (int i = 0; i < workers(); ++i) {
    auto r = std::make_unique<Ring>();
    io_uring_params params = {};
    if (options_.sqpoll) {
      params.flags |= IORING_SETUP_SQPOLL;
      params.sq_thread_idle = 1000;  // ms before the poller sleeps
    }
    // Task work runs when the worker enters the kernel anyway, instead of
    // interrupting it (5.19+); older kernels refuse the flag, so retry bare.
    params.flags |= IORING_SETUP_COOP_TASKRUN;
    // One entry more than the IOs in flight: the eventfd read has its own.
    const unsigned entries = options_.queue_depth + 1;
    int ret = io_uring_queue_init_params(entries, &r->ring, &params);
    if (ret == -EINVAL) {
      params.flags &= ~IORING_SETUP_COOP_TASKRUN;
      ret = io_uring_queue_init_params(entries, &r->ring, &params);
    }
    if (ret < 0) {
      return absl::UnavailableError(absl::StrCat("io_uring_queue_init(", options_.queue_depth,
                                                 "): ", strerror(-ret), SetupHint(-ret)));
    }
    r->initialized = true;
    if (i == 0) {
      io_uring_probe* probe = io_uring_get_probe_ring(&r->ring);
      if (probe == nullptr) {
        return absl::UnavailableError("io_uring: opcode probe failed");
      }
      bool ok = io_uring_opcode_supported(probe, IORING_OP_READ) &&
                io_uring_opcode_supported(probe, IORING_OP_WRITE) &&
                io_uring_opcode_supported(probe, IORING_OP_FSYNC);
      io_uring_free_probe(probe);
      if (!ok) {
        return absl::UnavailableError(
            "io_uring lacks IORING_OP_READ/WRITE/FSYNC (kernel before 5.6)");
      }
      if (params.flags & IORING_SETUP_SQPOLL) features_.push_back("sqpoll");
      if (params.flags & IORING_SETUP_COOP_TASKRUN) {
        features_.push_back("coop_taskrun");
      }
    }
    rings_.push_back(std::move(r));
  }
  return absl::OkStatus();
}

UringEngine::~UringEngine() {
  if (!rings_.empty() && static_cast<int>(rings_.size()) == workers()) {
    StopWorkers();
  }
  for (auto& r : rings_) {
    if (r->initialized) io_uring_queue_exit(&r->ring);
  }
}

bool UringEngine::Turn(int wi, bool may_block) {
  Worker& w = *workers_[wi];
  Ring& r = *rings_[wi];
  const uint32_t max_in_flight = options_.queue_depth;
  TakeInbox(w);
  while (r.in_flight < max_in_flight) {
    ChunkIo* io = NextIo(w, wi);
    if (io == nullptr) break;
    io_uring_sqe* sqe = GetSqe(&r.ring);
    if (sqe == nullptr) {  // SQ full: the IO waits for the next turn
      Requeue(w, io);
      break;
    }
    Prep(sqe, io);
    io->prev_in_flight = nullptr;
    io->next_in_flight = r.in_flight_list;
    if (r.in_flight_list != nullptr) r.in_flight_list->prev_in_flight = io;
    r.in_flight_list = io;
    ++r.in_flight;
    w.stats.in_kernel.fetch_add(1, std::memory_order_relaxed);
  }
  if (r.in_flight == 0 && w.ready.empty() && Drained()) return false;

  // Block only when there is nothing this thread could do meanwhile; the
  // one enter both submits the SQEs prepared above and waits.
  const bool can_progress = !w.ready.empty() && r.in_flight < max_in_flight;
  bool sleeping = false;
  unsigned wait_for = 0;
  if (options_.hand_driven) {
    // No thread sleeps on the inbox: the caller's turn waits for IO only.
    wait_for = may_block && !can_progress && r.in_flight > 0 ? 1 : 0;
  } else {
    ArmWake(r, w);
    sleeping = may_block && !can_progress && r.wake_armed && w.inbox.PrepareSleep();
    wait_for = sleeping ? 1 : 0;
  }
  const int ret = io_uring_submit_and_wait(&r.ring, wait_for);
  if (sleeping) w.inbox.EndSleep();
  if (ret < 0 && ret != -EINTR && ret != -EBUSY && ret != -EAGAIN) {
    fprintf(stderr, "overlapd: io_uring_submit_and_wait: %s\n", strerror(-ret));
    abort();
  }
  Reap(r, wi);
  return true;
}

// Keeps an IORING_OP_READ of the inbox's eventfd armed, so that new work
// wakes a worker blocked in io_uring_submit_and_wait.
void UringEngine::ArmWake(Ring& r, Worker& w) {
  if (r.wake_armed) return;
  io_uring_sqe* sqe = GetSqe(&r.ring);
  if (sqe == nullptr) return;  // SQ full: armed on a later turn
  io_uring_prep_read(sqe, w.inbox.event_fd(), &r.wake_value, sizeof(r.wake_value), 0);
  io_uring_sqe_set_data(sqe, &r.wake_value);
  r.wake_armed = true;
}

void UringEngine::CancelOnWorker(int worker, uint64_t op_id) {
  CancelOnRing(*rings_[worker], op_id);
}

void UringEngine::CancelInFlight(uint64_t op_id) {
  for (int i = 0; i < workers(); ++i) {
    auto* task = new internal::CancelTask;
    task->op_id = op_id;
    PushTask(i, &task->task);
  }
}

// Regular-file IO that the kernel already runs to completion inline cannot
// be cancelled; what waits in io-wq or on a poll is. The IO's own CQE
// (-ECANCELED, or its result if it won the race) completes it as usual.
// Best effort: with the SQ full the request is dropped and the IO simply
// finishes.
void UringEngine::CancelOnRing(Ring& r, uint64_t op_id) {
  for (ChunkIo* io = r.in_flight_list; io != nullptr; io = io->next_in_flight) {
    if (io->op_id != op_id) continue;
    io_uring_sqe* sqe = GetSqe(&r.ring);
    if (sqe == nullptr) return;
    io_uring_prep_cancel64(sqe, reinterpret_cast<__u64>(io), 0);
    io_uring_sqe_set_data(sqe, &r.cancel_tag);
  }
}

// Copies a batch of CQEs out and advances the CQ once, then runs the
// completions: a completion may queue more work, and it must not find the CQ
// half consumed.
void UringEngine::Reap(Ring& r, int wi) {
  Worker& w = *workers_[wi];
  struct Done {
    void* data;
    int res;
  } done[kReapBatch];
  io_uring_cqe* cqes[kReapBatch];
  for (;;) {
    unsigned n = io_uring_peek_batch_cqe(&r.ring, cqes, kReapBatch);
    if (n == 0) return;
    for (unsigned i = 0; i < n; ++i) {
      done[i] = {io_uring_cqe_get_data(cqes[i]), cqes[i]->res};
    }
    io_uring_cq_advance(&r.ring, n);
    for (unsigned i = 0; i < n; ++i) {
      if (done[i].data == &r.wake_value) {
        r.wake_armed = false;
        continue;
      }
      if (done[i].data == &r.cancel_tag) continue;  // the cancel's own CQE
      ChunkIo* io = static_cast<ChunkIo*>(done[i].data);
      if (io->prev_in_flight != nullptr) {
        io->prev_in_flight->next_in_flight = io->next_in_flight;
      } else {
        r.in_flight_list = io->next_in_flight;
      }
      if (io->next_in_flight != nullptr) {
        io->next_in_flight->prev_in_flight = io->prev_in_flight;
      }
      --r.in_flight;
      w.stats.in_kernel.fetch_sub(1, std::memory_order_relaxed);
      if (CompleteIo(io, done[i].res, wi)) Requeue(w, io);
    }
    if (n < kReapBatch) return;
  }
}

}  // namespace overlapd::io
