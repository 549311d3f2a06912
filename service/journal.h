// The journal: the one writer of the state store. Any thread pushes records
// (an event of the log, a job's creation, an op's outcome, a job's end); a
// writer thread commits whatever has queued in one transaction (group
// commit: one fsync for many records, and no engine thread ever waits on
// it), then publishes the committed events to the event log and runs the
// callbacks waiting on them (a Submit's reply).
#ifndef OVERLAPD_SERVICE_JOURNAL_H_
#define OVERLAPD_SERVICE_JOURNAL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "service/event_log.h"
#include "service/state_store.h"

namespace overlapd {

// One change to the store. Records pushed together commit together.
struct JournalRecord {
  enum class Kind : uint8_t {
    kEvent,       // `entry` at log position `id`
    kJobCreated,  // job `id`: owner, batch, snapshot
    kJobState,    // job `id`: snapshot, finished
    kJobOp,       // job `id`, op `index`: entry.event is its terminal event
    kForgetJob,   // job `id` left the history
  };
  Kind kind = Kind::kEvent;
  uint64_t id = 0;
  uint32_t index = 0;
  bool finished = false;
  LogEntry entry;
  std::string owner;
  std::string batch;
  std::string snapshot;
};

// Counters handed out without a record each (seqs of events that are not
// logged, batch and job ids) are covered by a lease: the store holds a
// floor above every value handed out, raised by kLease whenever a counter
// comes within half of it. The writer looks at least every kIdleWake (plus
// a commit), and no counter advances half its lease in that time (8
// million seqs; half a million batches), so after a crash every counter
// restarts at its floor, above anything handed out before.
//
// Threads: Push from any thread; the writer thread owns the store.
// Back-pressure: none here; what may queue is bounded by its producers
// (running jobs' ops; EventLog bounds the session events it logs).
// Lifetime: Start after the log and the counters exist; Stop (which commits
// what is queued) before they go.
class Journal {
 public:
  static constexpr uint64_t kLease = uint64_t{1} << 24;     // seqs
  static constexpr uint64_t kIdLease = uint64_t{1} << 20;   // batch and job ids
  static constexpr int64_t kIdleWakeMs = 100;

  // `log` receives the committed events; `job_ids` is the server's batch
  // and job id counter.
  Journal(StateStore& store, EventLog& log, std::atomic<uint64_t>& job_ids);
  ~Journal();

  // Raises the floors above the counters now, durably, then starts the
  // writer.
  absl::Status Start();
  // Commits what is queued and stops the writer.
  void Stop();

  // Queues `group` to commit in one transaction; `durable` runs on the
  // writer thread once it has.
  void Push(std::vector<JournalRecord>&& group, std::function<void()> durable = nullptr);

  uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }

 private:
  struct Group {
    std::vector<JournalRecord> records;
    std::function<void()> durable;
  };
  void Loop();
  // One transaction: the groups, the raised floors, the trimmed log.
  absl::Status Commit(std::vector<Group>& groups);
  absl::Status Apply(JournalRecord& r);
  // The commit's packed rows (state_store.h): its events, and each job's
  // op outcomes (written before that job's state changes).
  absl::Status FlushOps(uint64_t job);
  absl::Status FlushRows();
  const std::string& Serialized(const v1::Event& event);
  absl::Status RaiseFloors(bool force);
  bool FloorsLow() const;

  StateStore& store_;
  EventLog& log_;
  std::atomic<uint64_t>& job_ids_;
  // Writer thread only.
  uint64_t seq_floor_ = 0;
  uint64_t job_id_floor_ = 0;
  uint64_t trimmed_before_ = 0;
  std::vector<std::pair<uint64_t, LogEntry>> published_;
  std::string events_row_;
  uint64_t events_first_ = 0, events_last_ = 0;
  std::map<uint64_t, std::string> ops_rows_;
  const v1::Event* serialized_for_ = nullptr;  // an op's event serves twice
  std::string serialized_;

  bool HasWorkOrStop() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || stop_;
  }

  absl::Mutex mu_;
  std::vector<Group> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> commits_{0};
  std::thread writer_;
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_JOURNAL_H_
