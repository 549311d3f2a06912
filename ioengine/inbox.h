// A worker's queue of tasks: the intrusive FIFO it works through, and the
// multi-producer inbox other threads push into (with the eventfd that wakes
// a sleeping worker).
#ifndef OVERLAPD_IOENGINE_INBOX_H_
#define OVERLAPD_IOENGINE_INBOX_H_

#include <atomic>

#include "ioengine/engine.h"
#include "ioengine/mpsc_stack.h"

namespace overlapd::io::internal {

// An intrusive FIFO of tasks, owned by one thread.
class TaskList {
 public:
  bool empty() const { return head_ == nullptr; }
  void PushBack(Task* t);
  void PushFront(Task* t);
  Task* PopFront();
  // Appends a chain linked through Task::next (oldest first).
  void Append(Task* chain);

 private:
  Task* head_ = nullptr;
  Task* tail_ = nullptr;
};

// A worker's multi-producer, single-consumer queue: an MpscStack the owner
// takes whole, plus an eventfd to wake the owner. Producers write the
// eventfd only when the owner said it is about to sleep (a Dekker handshake
// on `sleeping_` and the stack's head, both seq_cst), so a
// busy worker costs producers no system call. The queue is bounded by its
// producers: every entry is an op or chunk whose memory its owner holds, and
// streams and jobs cap those with their credits.
class Inbox {
 public:
  Inbox();
  ~Inbox();
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

  void Push(Task* t);
  // Everything pushed so far, oldest first, linked through Task::next.
  Task* TakeAll();
  // The owner is about to block: returns false (and stays awake) if work
  // arrived meanwhile. After true, a Push writes the eventfd.
  bool PrepareSleep();
  void EndSleep() { sleeping_.store(false, std::memory_order_relaxed); }
  void Wake();
  int event_fd() const { return event_fd_; }

 private:
  MpscStack<Task> tasks_;
  std::atomic<bool> sleeping_{false};
  int event_fd_;
};

}  // namespace overlapd::io::internal

#endif  // OVERLAPD_IOENGINE_INBOX_H_
