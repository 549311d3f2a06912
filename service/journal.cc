#include "service/journal.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>

#include "ioengine/status_macros.h"

namespace overlapd {

Journal::Journal(StateStore& store, EventLog& log, std::atomic<uint64_t>& job_ids)
    : store_(store), log_(log), job_ids_(job_ids) {}

Journal::~Journal() { Stop(); }

absl::Status Journal::Start() {
  OVERLAPD_RETURN_IF_ERROR(store_.Begin());
  absl::Status s = RaiseFloors(/*force=*/true);
  OVERLAPD_RETURN_IF_ERROR(s.ok() ? store_.Commit() : s);
  writer_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void Journal::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (writer_.joinable()) writer_.join();
}

void Journal::Push(std::vector<JournalRecord>&& group, std::function<void()> durable) {
  // The unlock wakes the writer, asleep only on an empty queue (later groups
  // join the transaction it is about to open).
  absl::MutexLock lock(&mu_);
  queue_.push_back(Group{std::move(group), std::move(durable)});
}

bool Journal::FloorsLow() const {
  return log_.next_seq() + kLease / 2 > seq_floor_ ||
         job_ids_.load(std::memory_order_relaxed) + kIdLease / 2 > job_id_floor_;
}

absl::Status Journal::RaiseFloors(bool force) {
  const uint64_t seq = log_.next_seq();
  if (force || seq + kLease / 2 > seq_floor_) {
    seq_floor_ = seq + kLease;
    OVERLAPD_RETURN_IF_ERROR(store_.SetMeta(kMetaSeqFloor, seq_floor_));
  }
  const uint64_t id = job_ids_.load(std::memory_order_relaxed);
  if (force || id + kIdLease / 2 > job_id_floor_) {
    job_id_floor_ = id + kIdLease;
    OVERLAPD_RETURN_IF_ERROR(store_.SetMeta(kMetaJobIdFloor, job_id_floor_));
  }
  return absl::OkStatus();
}

const std::string& Journal::Serialized(const v1::Event& event) {
  if (serialized_for_ != &event) {
    serialized_.clear();
    event.SerializeToString(&serialized_);
    serialized_for_ = &event;
  }
  return serialized_;
}

absl::Status Journal::FlushOps(uint64_t job) {
  auto it = ops_rows_.find(job);
  if (it == ops_rows_.end()) return absl::OkStatus();
  absl::Status s = store_.PutJobOps(job, it->second);
  ops_rows_.erase(it);
  return s;
}

absl::Status Journal::FlushRows() {
  absl::Status s;
  if (!events_row_.empty()) s = store_.PutEvents(events_first_, events_last_, events_row_);
  events_row_.clear();
  for (auto& [job, row] : ops_rows_) {
    if (s.ok()) s = store_.PutJobOps(job, row);
  }
  ops_rows_.clear();
  serialized_for_ = nullptr;
  return s;
}

absl::Status Journal::Apply(JournalRecord& r) {
  using Kind = JournalRecord::Kind;
  switch (r.kind) {
    case Kind::kEvent:
      if (events_row_.empty()) events_first_ = r.id;
      events_last_ = r.id;
      StateStore::PackEvent(&events_row_, r.entry.event->seq(), r.entry.session,
                            r.entry.owner == nullptr ? absl::string_view() : *r.entry.owner,
                            Serialized(*r.entry.event));
      published_.emplace_back(r.id, r.entry);
      return absl::OkStatus();
    case Kind::kJobCreated:
      return store_.PutJob(r.id, r.owner, r.batch, r.snapshot);
    case Kind::kJobState:
      OVERLAPD_RETURN_IF_ERROR(FlushOps(r.id));
      return store_.UpdateJob(r.id, r.snapshot, r.finished);
    case Kind::kJobOp:
      StateStore::PackOp(&ops_rows_[r.id], r.index, Serialized(*r.entry.event));
      return absl::OkStatus();
    case Kind::kForgetJob:
      OVERLAPD_RETURN_IF_ERROR(FlushOps(r.id));
      return store_.DeleteJob(r.id);
  }
  return absl::InternalError("unknown journal record");
}

absl::Status Journal::Commit(std::vector<Group>& groups) {
  OVERLAPD_RETURN_IF_ERROR(store_.Begin());
  absl::Status s;
  for (Group& g : groups) {
    for (JournalRecord& r : g.records) {
      if (s.ok()) s = Apply(r);
    }
  }
  if (s.ok()) s = FlushRows();
  if (s.ok()) s = RaiseFloors(/*force=*/false);
  // The log's retention applies on disk too: what left the ring goes.
  const EventLog::Retained retained = log_.retained();
  if (s.ok() && retained.begin_pos > trimmed_before_) {
    s = store_.TrimEvents(retained.begin_pos);
    if (s.ok()) s = store_.SetMeta(kMetaBeginPos, retained.begin_pos);
    if (s.ok()) s = store_.SetMeta(kMetaEvictedLastSeq, retained.evicted_last_seq);
    if (s.ok()) trimmed_before_ = retained.begin_pos;
  }
  if (!s.ok()) {
    events_row_.clear();
    ops_rows_.clear();
    store_.Rollback().IgnoreError();
    return s;
  }
  return store_.Commit();
}

// The writer: takes everything queued, commits it, publishes it. A commit
// that fails (disk full, IO error) ends the process: overlapd cannot keep
// its promise that what it acknowledged is durable, and serving on would
// acknowledge more; a restart finds the store as of the last commit.
void Journal::Loop() {
  std::vector<Group> groups;
  for (;;) {
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(this, &Journal::HasWorkOrStop),
                           absl::Milliseconds(kIdleWakeMs));
      groups.swap(queue_);
      stopping = stop_ && groups.empty();
    }
    if (stopping) return;
    // Idle: a transaction only when a counter needs its floor raised.
    if (groups.empty() && !FloorsLow()) continue;
    absl::Status s = Commit(groups);
    if (!s.ok()) {
      spdlog::critical("{}; stopping: acknowledged jobs and events could not be made durable",
                       std::string(s.message()));
      std::abort();
    }
    commits_.fetch_add(1, std::memory_order_relaxed);
    if (!published_.empty()) log_.Publish(published_);
    published_.clear();
    for (Group& g : groups) {
      if (g.durable) g.durable();
    }
    groups.clear();
  }
}

}  // namespace overlapd
