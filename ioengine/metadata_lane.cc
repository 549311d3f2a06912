#include "ioengine/metadata_lane.h"

#include <pthread.h>

#include <cstdio>
#include <string>

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
    std::lock_guard<std::mutex> lock(mu_);
    if (tail_ == nullptr) {
      head_ = tail_ = t;
    } else {
      tail_->next = t;
      tail_ = t;
    }
  }
  cv_.notify_one();
}

void MetadataLane::Wake() {
  // Taking the lock orders this wake after a thread's check of `drained`:
  // a thread either saw the new state or is already waiting and gets this.
  { std::lock_guard<std::mutex> lock(mu_); }
  cv_.notify_all();
}

void MetadataLane::Join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

// Takes the oldest op, runs it without the lock, repeats; sleeps on the
// condition variable when the queue is empty, and returns once it is empty
// and the engine has drained.
void MetadataLane::Loop() {
  for (;;) {
    internal::Task* t;
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (head_ == nullptr) {
        if (drained_()) return;
        cv_.wait(lock);
      }
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
