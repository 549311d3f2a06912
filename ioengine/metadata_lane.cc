#include "ioengine/metadata_lane.h"

#include <pthread.h>

#include <cstdio>
#include <string>

#include "absl/synchronization/mutex.h"

namespace overlapd::io {

void MetadataLane::Start(std::string_view name, std::function<void(Op*)> run,
                         std::function<bool()> drained) {
  run_ = std::move(run);
  drained_ = std::move(drained);
  for (int i = 0; i < thread_count_; ++i) {
    threads_.emplace_back([this, i, label = std::string(name)] {
      char thread_name[16];
      snprintf(thread_name, sizeof(thread_name), "meta-%s-%d", label.c_str(), i);
      pthread_setname_np(pthread_self(), thread_name);
      Loop();
    });
  }
}

void MetadataLane::Push(Op* op) {
  internal::Task* t = &op->state.task;
  t->next = nullptr;
  pending_.fetch_add(1, std::memory_order_relaxed);
  {
    absl::MutexLock lock(&mu_);
    if (tail_ == nullptr) {
      head_ = tail_ = t;
    } else {
      tail_->next = t;
      tail_ = t;
    }
  }  // the unlock wakes a thread waiting in Loop
}

void MetadataLane::Wake() {
  // Waiting threads re-check their condition (which reads `drained`) when
  // the mutex is released: taking and releasing it is the wake-up.
  { absl::MutexLock lock(&mu_); }
}

void MetadataLane::Join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

bool MetadataLane::HasWorkOrDrained() const { return head_ != nullptr || drained_(); }

// Takes the oldest op, runs it without the lock, repeats; sleeps while the
// queue is empty, and returns once it is empty and the engine has drained.
void MetadataLane::Loop() {
  for (;;) {
    internal::Task* t;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &MetadataLane::HasWorkOrDrained));
      if (head_ == nullptr) return;  // drained
      t = head_;
      head_ = t->next;
      if (head_ == nullptr) tail_ = nullptr;
      t->next = nullptr;
    }
    pending_.fetch_sub(1, std::memory_order_relaxed);
    run_(static_cast<Op*>(t->owner));
  }
}

}  // namespace overlapd::io
