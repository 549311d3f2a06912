// The server-wide event log behind Subscribe: a bounded ring of recent
// events in seq order.
#ifndef OVERLAPD_SERVICE_EVENT_LOG_H_
#define OVERLAPD_SERVICE_EVENT_LOG_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "overlapd/v1/overlapd.pb.h"

namespace overlapd {


class Journal;
struct JournalRecord;

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
  // Set by the log under its lock for the Notify that follows.
  uint64_t wake_pos = 0;
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
//
// Durable (with a journal, see AttachJournal): Append gives the seq and the
// position at once but hands the entry to the journal; readers see it only
// once the journal has committed it (Publish), so that nothing a subscriber
// saw can be missing, or come again under another seq, after a crash.
class EventLog {
 public:
  // Keeps at most `capacity` events and `max_bytes` bytes of them (their
  // serialised size plus a fixed overhead each); the oldest go first.
  explicit EventLog(size_t capacity, uint64_t max_bytes = UINT64_MAX);

  // A seq for an event that is not logged.
  uint64_t NextSeq() { return next_seq_.fetch_add(1, std::memory_order_relaxed); }

  // Gives `event` the next seq and appends a copy of it, without its data
  // bytes. `session`: the event belongs to an Execute/Session call.
  // Durable: the records in `with` commit in the same transaction; a
  // kJobOp record among them gets the logged copy as its event; `then`
  // runs once readers can have the event (durable: on the journal's
  // thread after the commit; otherwise before Append returns).
  void Append(v1::Event* event, bool session,
              std::shared_ptr<const std::string> owner = nullptr,
              std::vector<JournalRecord>* with = nullptr,
              std::function<void()> then = nullptr);

  // Durable mode. Before any Append: entries restored from the store (in
  // position order; `begin_pos` and `evicted_last_seq` as stored), then the
  // journal every later entry goes through.
  void Restore(uint64_t begin_pos, uint64_t evicted_last_seq, std::vector<LogEntry>&& entries,
               uint64_t first_pos);
  void AttachJournal(Journal* journal) { journal_ = journal; }
  // The journal has committed these entries (in position order): readers
  // may have them now.
  void Publish(std::vector<std::pair<uint64_t, LogEntry>>& entries);
  struct Retained {
    uint64_t begin_pos = 0;
    uint64_t evicted_last_seq = 0;
  };
  Retained retained() const;
  uint64_t next_seq() const { return next_seq_.load(std::memory_order_relaxed); }
  void set_next_seq(uint64_t seq) { next_seq_.store(seq, std::memory_order_relaxed); }
  // The seq of the entry before `pos`, if the log still holds it; else 0.
  uint64_t SeqBefore(uint64_t pos) const;

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
  // Puts `entry` at end_pos_, evicting what the bounds require, and moves
  // the waiters that want it to `wake` (mu_ held).
  void Insert(Entry&& entry, std::vector<LogWaiter*>* wake);
  // Durable: the session events not logged because the journal lagged,
  // told to session subscribers as one EVENTS_LOST entry (mu_ held).
  void LogDroppedSessionEvents();

  // Session events waiting for the journal beyond which they are dropped
  // (counted, and told as EVENTS_LOST): they come as fast as the IO path,
  // and memory must stay bounded when the disk cannot keep up.
  static constexpr uint64_t kMaxPendingSession = 1 << 16;

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
  Journal* journal_ = nullptr;
  // Durable: positions handed to the journal (>= end_pos_), and the session
  // events among them not yet published.
  uint64_t pending_end_ = 0;
  uint64_t pending_session_ = 0;
  uint64_t dropped_ = 0, dropped_first_seq_ = 0, dropped_last_seq_ = 0;
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_EVENT_LOG_H_
