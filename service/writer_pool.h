// Threads that run streams' writers on behalf of the engine's workers.
//
// An engine worker whose op completes posts the stream here and goes
// straight back to IO; one of the pool's threads takes the writer token
// (StreamWriter::Kick), serialises the EventBatch and starts the gRPC
// write. With --writer-threads 0 there is no pool and the worker writes
// itself. tests/bench/writer_threads.sh measures both.
//
// Threads: Post from any thread (engine workers); Run on the pool's own.
// Back-pressure: none needed: a stream is posted at most once at a time
// (EventStream keeps a flag), so the queue holds at most one entry per open
// stream. Lifetime: a posted stream holds a reference until Run returns;
// the pool must outlive every stream (it is destroyed after the server).
#ifndef OVERLAPD_SERVICE_WRITER_POOL_H_
#define OVERLAPD_SERVICE_WRITER_POOL_H_

#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace overlapd {

// Work a WriterPool runs: one stream's pending writer turn.
class Handoff {
 public:
  virtual ~Handoff() = default;
  virtual void RunHandoff() = 0;
};

class WriterPool {
 public:
  explicit WriterPool(int threads);
  // Runs what was posted, then joins the threads.
  ~WriterPool();
  WriterPool(const WriterPool&) = delete;
  WriterPool& operator=(const WriterPool&) = delete;

  void Post(Handoff* work);

 private:
  void Loop();
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || stopping_;
  }

  absl::Mutex mu_;
  std::deque<Handoff*> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_WRITER_POOL_H_
