#include "service/event_log.h"

#include <algorithm>

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

void EventLog::Append(v1::Event* event, bool session, std::shared_ptr<const std::string> owner) {
  // Copy before taking the lock; the seq is set under it so that positions
  // and seqs grow together.
  auto copy = std::make_shared<v1::Event>();
  std::string data;
  data.swap(*event->mutable_data());
  *copy = *event;
  data.swap(*event->mutable_data());
  const uint64_t entry_bytes = copy->ByteSizeLong() + kEntryOverheadBytes;
  std::vector<LogWaiter*> wake;
  uint64_t pos;
  {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t seq = next_seq_.fetch_add(1, std::memory_order_relaxed);
    event->set_seq(seq);
    copy->set_seq(seq);
    if (end_pos_ - begin_pos_ == capacity_) EvictOldest();
    while (begin_pos_ < end_pos_ && bytes_ + entry_bytes > max_bytes_) EvictOldest();
    Entry& slot = ring_[end_pos_ % capacity_];
    slot.event = std::move(copy);
    slot.session = session;
    slot.owner = std::move(owner);
    slot.bytes = entry_bytes;
    bytes_ += entry_bytes;
    pos = end_pos_++;
    // Waiters whose filter passes this entry leave the list to be woken;
    // the rest stay, having skipped it.
    for (size_t i = 0; i < waiters_.size();) {
      if (waiters_[i]->Wants(slot)) {
        wake.push_back(waiters_[i]);
        waiters_[i] = waiters_.back();
        waiters_.pop_back();
      } else {
        ++i;
      }
    }
  }
  for (LogWaiter* w : wake) {
    w->Notify(pos);
    w->Unref();
  }
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
