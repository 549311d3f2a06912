#include "ioengine/inbox.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace overlapd::io::internal {

void TaskList::PushBack(Task* t) {
  t->next = nullptr;
  if (tail_ == nullptr) {
    head_ = tail_ = t;
  } else {
    tail_->next = t;
    tail_ = t;
  }
}

void TaskList::PushFront(Task* t) {
  t->next = head_;
  head_ = t;
  if (tail_ == nullptr) tail_ = t;
}

Task* TaskList::PopFront() {
  Task* t = head_;
  if (t == nullptr) return nullptr;
  head_ = t->next;
  if (head_ == nullptr) tail_ = nullptr;
  t->next = nullptr;
  return t;
}

void TaskList::Append(Task* chain) {
  while (chain != nullptr) {
    Task* next = chain->next;
    PushBack(chain);
    chain = next;
  }
}

Inbox::Inbox() : event_fd_(eventfd(0, EFD_CLOEXEC)) {
  if (event_fd_ < 0) {
    perror("overlapd: eventfd");
    abort();
  }
}

Inbox::~Inbox() { close(event_fd_); }

void Inbox::Push(Task* t) {
  tasks_.Push(t);
  if (sleeping_.load(std::memory_order_seq_cst) &&
      sleeping_.exchange(false, std::memory_order_seq_cst)) {
    Wake();
  }
}

Task* Inbox::TakeAll() { return tasks_.TakeAll(); }

bool Inbox::PrepareSleep() {
  sleeping_.store(true, std::memory_order_seq_cst);
  if (!tasks_.empty()) {
    sleeping_.store(false, std::memory_order_relaxed);
    return false;
  }
  return true;
}

void Inbox::Wake() {
  uint64_t one = 1;
  // A full counter (EAGAIN) already means "wake up".
  [[maybe_unused]] ssize_t n = write(event_fd_, &one, sizeof(one));
}

}  // namespace overlapd::io::internal
