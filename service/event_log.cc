#include "service/event_log.h"

#include <algorithm>

#include "service/journal.h"

namespace overlapd {

namespace {
// The heap an entry holds beyond its serialised bytes: the Event object,
// the shared_ptr control block, string headers.
constexpr uint64_t kEntryOverheadBytes = 256;
}  // namespace

EventLog::EventLog(size_t capacity, uint64_t max_bytes)
    : capacity_(std::max<size_t>(capacity, 1)), max_bytes_(max_bytes), ring_(capacity_) {}

void EventLog::EvictOldest() {
  Entry& old = ring_[begin_pos_ % capacity_];
  evicted_last_seq_ = old.event->seq();
  bytes_ -= old.bytes;
  old = Entry();
  ++begin_pos_;
}

uint64_t EventLog::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

void EventLog::Insert(Entry&& entry, std::vector<LogWaiter*>* wake) {
  if (end_pos_ - begin_pos_ == capacity_) EvictOldest();
  while (begin_pos_ < end_pos_ && bytes_ + entry.bytes > max_bytes_) EvictOldest();
  Entry& slot = ring_[end_pos_ % capacity_];
  slot = std::move(entry);
  bytes_ += slot.bytes;
  ++end_pos_;
  // Waiters whose filter passes this entry leave the list to be woken;
  // the rest stay, having skipped it.
  for (size_t i = 0; i < waiters_.size();) {
    if (waiters_[i]->Wants(slot)) {
      waiters_[i]->wake_pos = end_pos_ - 1;
      wake->push_back(waiters_[i]);
      waiters_[i] = waiters_.back();
      waiters_.pop_back();
    } else {
      ++i;
    }
  }
}

void EventLog::Append(v1::Event* event, bool session, std::shared_ptr<const std::string> owner,
                      std::vector<JournalRecord>* with, std::function<void()> then) {
  // Copy before taking the lock; the seq is set under it so that positions
  // and seqs grow together.
  auto copy = std::make_shared<v1::Event>();
  std::string data;
  data.swap(*event->mutable_data());
  *copy = *event;
  data.swap(*event->mutable_data());
  Entry entry;
  entry.session = session;
  entry.owner = std::move(owner);
  entry.bytes = copy->ByteSizeLong() + kEntryOverheadBytes;
  std::vector<LogWaiter*> wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t seq = next_seq_.fetch_add(1, std::memory_order_relaxed);
    event->set_seq(seq);
    copy->set_seq(seq);
    entry.event = std::move(copy);
    if (journal_ == nullptr) {
      Insert(std::move(entry), &wake);
    } else if (session && pending_session_ >= kMaxPendingSession) {
      if (dropped_++ == 0) dropped_first_seq_ = seq;
      dropped_last_seq_ = seq;
    } else {
      if (session) {
        LogDroppedSessionEvents();
        ++pending_session_;
      }
      // Pushed under mu_: the journal commits positions in order.
      std::vector<JournalRecord> group;
      if (with != nullptr) group = std::move(*with);
      for (JournalRecord& r : group) {
        if (r.kind == JournalRecord::Kind::kJobOp) r.entry = entry;
      }
      JournalRecord record;
      record.id = pending_end_++;
      record.entry = std::move(entry);
      group.insert(group.begin(), std::move(record));
      journal_->Push(std::move(group), std::move(then));
    }
  }
  for (LogWaiter* w : wake) {
    w->Notify(w->wake_pos);
    w->Unref();
  }
  if (then && journal_ == nullptr) then();
}

void EventLog::LogDroppedSessionEvents() {
  if (dropped_ == 0) return;
  auto lost = std::make_shared<v1::Event>();
  lost->set_seq(next_seq_.fetch_add(1, std::memory_order_relaxed));
  lost->set_type(v1::EVENTS_LOST);
  lost->set_count(dropped_);
  lost->set_first_seq(dropped_first_seq_);
  lost->set_last_seq(dropped_last_seq_);
  dropped_ = 0;
  JournalRecord record;
  record.id = pending_end_++;
  record.entry.session = true;
  record.entry.bytes = lost->ByteSizeLong() + kEntryOverheadBytes;
  record.entry.event = std::move(lost);
  ++pending_session_;
  std::vector<JournalRecord> group;
  group.push_back(std::move(record));
  journal_->Push(std::move(group));
}

void EventLog::Restore(uint64_t begin_pos, uint64_t evicted_last_seq,
                       std::vector<Entry>&& entries, uint64_t first_pos) {
  std::lock_guard<std::mutex> lock(mu_);
  begin_pos_ = end_pos_ = std::max(begin_pos, first_pos);
  evicted_last_seq_ = evicted_last_seq;
  std::vector<LogWaiter*> none;
  for (Entry& e : entries) {
    e.bytes = e.event->ByteSizeLong() + kEntryOverheadBytes;
    Insert(std::move(e), &none);
  }
  pending_end_ = end_pos_;
}

void EventLog::Publish(std::vector<std::pair<uint64_t, Entry>>& entries) {
  std::vector<LogWaiter*> wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [pos, entry] : entries) {
      if (entry.session) --pending_session_;
      Insert(std::move(entry), &wake);
    }
  }
  for (LogWaiter* w : wake) {
    w->Notify(w->wake_pos);
    w->Unref();
  }
}

EventLog::Retained EventLog::retained() const {
  std::lock_guard<std::mutex> lock(mu_);
  return Retained{begin_pos_, evicted_last_seq_};
}

uint64_t EventLog::SeqBefore(uint64_t pos) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (pos == 0 || pos <= begin_pos_ || pos > end_pos_) return 0;
  return ring_[(pos - 1) % capacity_].event->seq();
}

EventLog::ReadResult EventLog::Read(uint64_t pos, size_t max) const {
  ReadResult r;
  std::lock_guard<std::mutex> lock(mu_);
  if (pos < begin_pos_) {
    r.lost = begin_pos_ - pos;
    r.lost_last_seq = evicted_last_seq_;
    pos = begin_pos_;
  }
  uint64_t end = std::min<uint64_t>(end_pos_, pos + max);
  r.entries.reserve(end - pos);
  for (uint64_t p = pos; p < end; ++p) r.entries.push_back(ring_[p % capacity_]);
  r.next_pos = end;
  return r;
}

uint64_t EventLog::PositionOf(uint64_t from_seq) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (from_seq == 0) return 0;
  // Seqs grow with positions: binary search the retained range.
  uint64_t lo = begin_pos_, hi = end_pos_;
  if (lo < hi && from_seq <= ring_[lo % capacity_].event->seq()) {
    // Older than what is retained: start before it so that Read reports
    // the entries lost, if any were evicted.
    return from_seq <= evicted_last_seq_ ? begin_pos_ - std::min<uint64_t>(
                                               begin_pos_, evicted_last_seq_ - from_seq + 1)
                                         : begin_pos_;
  }
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (ring_[mid % capacity_].event->seq() < from_seq) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

bool EventLog::WaitFor(LogWaiter* waiter, uint64_t pos) {
  std::lock_guard<std::mutex> lock(mu_);
  if (pos < end_pos_) return false;
  waiter->Ref();
  waiters_.push_back(waiter);
  return true;
}

void EventLog::CancelWait(LogWaiter* waiter) {
  size_t removed = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // A waiter racing its own wake-up may have registered twice.
    auto end = std::remove(waiters_.begin(), waiters_.end(), waiter);
    removed = static_cast<size_t>(waiters_.end() - end);
    waiters_.erase(end, waiters_.end());
  }
  for (size_t i = 0; i < removed; ++i) waiter->Unref();
}

uint64_t EventLog::end_position() const {
  std::lock_guard<std::mutex> lock(mu_);
  return end_pos_;
}

uint64_t EventLog::oldest_seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return begin_pos_ == end_pos_ ? 0 : ring_[begin_pos_ % capacity_].event->seq();
}

size_t EventLog::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return end_pos_ - begin_pos_;
}

}  // namespace overlapd
