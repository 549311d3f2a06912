// The engine's metadata lane: a few threads of their own that run the ops
// which move no file data (Stat, List, Mkdir, Rename, Delete). Such an op
// is one or more blocking system calls whose cost the caller controls (a
// List of a directory of millions of names, an unlink of a huge file), so
// on a data worker it would hold up every read and write queued behind it.
#ifndef OVERLAPD_IOENGINE_METADATA_LANE_H_
#define OVERLAPD_IOENGINE_METADATA_LANE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "ioengine/engine.h"

namespace overlapd::io {

// Whether an op of `type` runs on the metadata lane rather than on a data
// worker. Ops whose work is IO through the ring (or the pool's preads)
// stay on the workers.
constexpr bool RunsOnMetadataLane(OpType type) { return TypeInfo(type).metadata; }

// A FIFO of ops and the threads that run them, one op at a time each.
//
// Threads: Push and Wake from any thread; `run` is called on the lane's
// threads only. The queue is under a mutex: a metadata op costs system
// calls, so a lock per op is noise next to them.
// Back-pressure: the queue is intrusive (through the op's OpState::task)
// and holds only submitted ops, which their callers bound (stream and job
// credits), like a worker's inbox.
// Lifetime: Start once; the threads run until the queue is empty and
// `drained` is true, then Join returns. Whoever makes `drained` true calls
// Wake afterwards, so that idle threads see it.
//
// Example:
//
//   MetadataLane lane(2);
//   lane.Start("uring", [&](Op* op) { ... }, [&] { return engine_drained; });
//   lane.Push(op);     // runs on a lane thread
//   ...                // drained becomes true
//   lane.Wake();
//   lane.Join();
class MetadataLane {
 public:
  explicit MetadataLane(int threads) : thread_count_(threads < 1 ? 1 : threads) {}
  ~MetadataLane() { Join(); }
  MetadataLane(const MetadataLane&) = delete;
  MetadataLane& operator=(const MetadataLane&) = delete;

  // Starts the threads, named "meta-<name>-<i>".
  void Start(std::string_view name, std::function<void(Op*)> run,
             std::function<bool()> drained);
  void Push(Op* op);
  // Makes idle threads check `drained` again.
  void Wake();
  void Join();

  int threads() const { return thread_count_; }
  // Ops queued, not yet started.
  int64_t pending() const { return pending_.load(std::memory_order_relaxed); }

 private:
  void Loop();
  bool HasWorkOrDrained() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int thread_count_;
  std::function<void(Op*)> run_;
  std::function<bool()> drained_;
  absl::Mutex mu_;
  internal::Task* head_ ABSL_GUARDED_BY(mu_) = nullptr;
  internal::Task* tail_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::atomic<int64_t> pending_{0};
  std::vector<std::thread> threads_;
};

}  // namespace overlapd::io

#endif  // OVERLAPD_IOENGINE_METADATA_LANE_H_
