// The server-wide event log behind Subscribe: a bounded ring of recent
// events in seq order.
#ifndef OVERLAPD_SERVICE_EVENT_LOG_H_
#define OVERLAPD_SERVICE_EVENT_LOG_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "overlapd/v1/overlapd.pb.h"

namespace overlapd {


// One logged event.
struct LogEntry {
  std::shared_ptr<const v1::Event> event;
  bool session = false;  // from an Execute/Session call
  // The path prefix of the token whose call or job made the event ("" or
  // null: the whole root): a token limited to a prefix sees only events of
  // calls and jobs under it.
  std::shared_ptr<const std::string> owner;
  uint64_t bytes = 0;  // what the entry costs, counted against the byte bound
};

// Something that waits for new log entries (a Subscribe call) that pass its
// filter. The log asks Wants on every append while the waiter is registered,
// so that thousands of idle subscribers cost a filter check each, not a
// wake-up: Wants runs under the log's lock and must be cheap and must not
// call into the log. Notify runs on the appending thread, outside the lock,
// and must not block.
class LogWaiter {
 public:
  virtual ~LogWaiter() = default;
  virtual bool Wants(const LogEntry& entry) const = 0;
  // The entry at `pos` passed the filter; the ones between the position the
  // waiter registered at and `pos` did not.
  virtual void Notify(uint64_t pos) = 0;
  // The log holds a reference while the waiter is registered.
  virtual void Ref() = 0;
  virtual void Unref() = 0;
};

// Seqs come from one server-wide counter: every event gets one, logged or
// not. Job events are always logged; Execute/Session events are logged
// (without their data bytes) only while a subscriber asks for them, so the
// IO fast path pays nothing for the log when nobody watches it.
//
// Entries are addressed by position (0, 1, 2, ... in append order). A reader
// holds the position of the next entry it wants; once the ring has
// overwritten that position, the reader has lost the entries in between and
// learns how many. Appending never waits for readers: a slow subscriber can
// only lose events, never slow the IO path. Thread-safe.
class EventLog {
 public:
  // Keeps at most `capacity` events and `max_bytes` bytes of them (their
  // serialised size plus a fixed overhead each); the oldest go first.
  explicit EventLog(size_t capacity, uint64_t max_bytes = UINT64_MAX);

  // A seq for an event that is not logged.
  uint64_t NextSeq() { return next_seq_.fetch_add(1, std::memory_order_relaxed); }

  // Gives `event` the next seq and appends a copy of it, without its data
  // bytes. `session`: the event belongs to an Execute/Session call.
  void Append(v1::Event* event, bool session,
              std::shared_ptr<const std::string> owner = nullptr);

  // Whether Execute/Session events should be appended now.
  bool WantsSessionEvents() const {
    return session_subscribers_.load(std::memory_order_relaxed) > 0;
  }
  void AddSessionSubscriber(int delta) {
    session_subscribers_.fetch_add(delta, std::memory_order_relaxed);
  }

  using Entry = LogEntry;
  struct ReadResult {
    std::vector<Entry> entries;
    uint64_t next_pos = 0;
    // Entries that were overwritten before this read got to them, and the
    // seq range they spanned (first_lost_seq is the reader's expectation).
    uint64_t lost = 0;
    uint64_t lost_last_seq = 0;
  };
  // Up to `max` entries from position `pos` on.
  ReadResult Read(uint64_t pos, size_t max) const;

  // The position a reader starting at `from_seq` should use: the first
  // retained entry with seq >= from_seq. When entries at or after from_seq
  // were evicted, a position before the retained range, so that Read
  // reports them lost (exactly for from_seq 0: every evicted entry).
  uint64_t PositionOf(uint64_t from_seq) const;

  // Registers `waiter` to be notified by the next Append it Wants, unless
  // entries at or after `pos` already exist: then returns false and
  // registers nothing.
  bool WaitFor(LogWaiter* waiter, uint64_t pos);
  // Unregisters `waiter` if it is waiting (a subscription that ends).
  void CancelWait(LogWaiter* waiter);

  uint64_t end_position() const;
  uint64_t oldest_seq() const;
  size_t size() const;
  uint64_t bytes() const;
  uint64_t max_bytes() const { return max_bytes_; }

 private:
  // Evicts the oldest entry (mu_ held).
  void EvictOldest();

  const size_t capacity_;
  const uint64_t max_bytes_;
  uint64_t bytes_ = 0;  // under mu_
  std::atomic<uint64_t> next_seq_{1};
  std::atomic<int> session_subscribers_{0};
  mutable std::mutex mu_;
  std::vector<Entry> ring_;  // position p lives in ring_[p % capacity_]
  uint64_t begin_pos_ = 0;   // oldest retained position
  uint64_t end_pos_ = 0;     // next position to write
  uint64_t evicted_last_seq_ = 0;  // seq of the newest overwritten entry
  std::vector<LogWaiter*> waiters_;
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_EVENT_LOG_H_
