#include "service/writer_pool.h"

#include <pthread.h>

namespace overlapd {

WriterPool::WriterPool(int threads) {
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "writer");
      Loop();
    });
  }
}

WriterPool::~WriterPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

void WriterPool::Post(Handoff* work) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(work);
}

// Takes the oldest stream and runs its writer without the lock; returns
// once stopping with nothing left.
void WriterPool::Loop() {
  for (;;) {
    Handoff* work;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &WriterPool::HasWorkOrStopping));
      if (queue_.empty()) return;  // stopping, and nothing left to run
      work = queue_.front();
      queue_.pop_front();
    }
    work->RunHandoff();
  }
}

}  // namespace overlapd
