// A lock-free multi-producer, single-consumer intrusive stack that the
// consumer takes whole, in push order: the queue between threads that do
// not want to wait on each other (engine inboxes, a stream's events).
#ifndef OVERLAPD_IOENGINE_MPSC_STACK_H_
#define OVERLAPD_IOENGINE_MPSC_STACK_H_

#include <atomic>

namespace overlapd {

// T carries its own link (`T* T::next`), so pushing never allocates.
// Push is seq_cst so that a consumer's "empty, going to sleep" check and a
// producer's "consumer asleep?" check cannot both miss (see engine Inbox).
//
//   MpscStack<Node> stack;
//   stack.Push(node);                 // any thread
//   for (Node* n = stack.TakeAll(); n != nullptr; n = n->next) ...  // owner
template <typename T>
class MpscStack {
 public:
  void Push(T* item) {
    T* head = head_.load(std::memory_order_relaxed);
    do {
      item->next = head;
    } while (!head_.compare_exchange_weak(head, item, std::memory_order_seq_cst,
                                          std::memory_order_relaxed));
  }

  // Everything pushed so far, oldest first, linked through `next`; `*last`
  // (if given) gets the newest.
  T* TakeAll(T** last = nullptr) {
    T* item = head_.exchange(nullptr, std::memory_order_acquire);
    if (last != nullptr) *last = item;
    T* fifo = nullptr;
    while (item != nullptr) {  // the stack holds newest first
      T* next = item->next;
      item->next = fifo;
      fifo = item;
      item = next;
    }
    return fifo;
  }

  bool empty() const { return head_.load(std::memory_order_seq_cst) == nullptr; }

 private:
  std::atomic<T*> head_{nullptr};
};

}  // namespace overlapd

#endif  // OVERLAPD_IOENGINE_MPSC_STACK_H_
