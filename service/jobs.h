// Detached jobs: batches that run on the server, outliving the call that
// submitted them. Their events go to the event log (Subscribe); their state
// is kept, bounded, for GetJob / ListJobs.
#ifndef OVERLAPD_SERVICE_JOBS_H_
#define OVERLAPD_SERVICE_JOBS_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"
#include "ioengine/engine.h"
#include "overlapd/v1/overlapd.pb.h"
#include "service/batch_run.h"
#include "service/event_log.h"
#include "service/event_stream.h"
#include "service/job_recovery.h"
#include "service/journal.h"
#include "service/state_store.h"

namespace overlapd {

class JobManager;

// One job. Its OnComplete runs on engine workers: it counts, appends the
// op's event to the log (with the journal: journals it, in the same
// transaction) and, for the last op, closes the job.
class Job final : public io::OpSink {
 public:
  Job(JobManager& manager, uint64_t id, v1::Batch& batch, std::string owner_prefix,
      BufferPins pins = {});
  // A finished job, as the store kept it.
  Job(JobManager& manager, const v1::Job& finished, std::string owner_prefix);

  void OnReadChunk(io::Op& op, uint64_t offset, std::string data,
                   uint32_t crc32c) override;
  void OnComplete(io::Op& op) override;

  // The job now, live progress of running ops included. Call under the
  // manager's lock (run_ may be freed by the last op otherwise).
  v1::Job Snapshot() const;
  uint64_t id() const { return id_; }
  bool finished() const { return state_.load() >= v1::SUCCEEDED; }
  int64_t finished_ns() const { return finished_ns_.load(); }

 private:
  friend class JobManager;
  // Counts the op's terminal event and logs it; the last op ends the job.
  void Conclude(OpRun& run, v1::Event& event);
  // The job's end: its state, BATCH_COMPLETE, the journal, the manager.
  void Finish();
  // After a restart: counts the journaled outcomes, ends the ops that must
  // not run again, runs the rest (job_recovery.h).
  void Resume(const std::vector<ResumeStep>& plan, const std::map<uint32_t, v1::Event>& ended);
  void CountOutcome(io::OpType type, const v1::Event& event);

  JobManager& manager_;
  const uint64_t id_;
  const std::string label_;
  // The path prefix of the token that submitted it ("" without one): a
  // token limited to a prefix sees only jobs submitted under it.
  const std::string owner_prefix_;
  const std::shared_ptr<const std::string> owner_;  // for the event log
  const uint32_t ops_total_;
  int64_t created_ns_;  // set once, before the job is shared
  bool resumed_ = false;  // likewise
  std::atomic<int64_t> started_ns_{0};
  std::atomic<int64_t> finished_ns_{0};
  std::atomic<int> state_{v1::QUEUED};
  std::atomic<bool> cancel_requested_{false};
  // Its last op has ended: its end is on its way to the journal (a cancel
  // now changes nothing).
  std::atomic<bool> ending_{false};
  std::atomic<uint32_t> ops_done_{0};
  std::atomic<uint32_t> ops_failed_{0};
  std::atomic<uint32_t> ops_cancelled_{0};
  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<uint64_t> bytes_written_{0};
  io::ReadCredit credit_;
  // Alive until the job finishes; guarded by JobManager::mu_ for Cancel.
  std::unique_ptr<BatchRun> run_;
};

// Keeps every running job and a bounded history of finished ones.
// Thread-safe.
class JobManager {
 public:
  struct Options {
    uint32_t max_running = 64;
    uint32_t max_finished = 1000;
    int64_t finished_ttl_ns = 3600ll * 1'000'000'000;
    uint64_t read_credit_bytes = 64ull << 20;
  };
  JobManager(ServiceContext& ctx, EventLog& log, Options options);
  ~JobManager();

  // Validates and starts `batch` as a job; `done` gets it (RUNNING), or
  // the refusal. With the journal, `done` runs once the job is durable
  // (on the journal's thread), and the job starts then; without, at once.
  // `prefix`: the submitting token's path prefix (see auth.h); the other
  // calls see only jobs submitted under the caller's prefix ("" sees all),
  // and answer NOT_FOUND for the rest.
  // `pins`: the shared buffers its ops name (BufferRegistry::Resolve).
  // `done` runs once the job is journaled (at once without a journal).
  using SubmitDone = std::function<void(absl::StatusOr<v1::Job>)>;
  void Submit(v1::Batch& batch, const std::string& prefix, BufferPins pins, SubmitDone done);

  // Durable jobs: every later job, op outcome and end is journaled.
  void AttachJournal(Journal* journal) { journal_ = journal; }
  // Takes the jobs the store kept: finished ones answer GetJob/ListJobs
  // again, running ones resume (job_recovery.h). Call once, after
  // AttachJournal, before serving.
  struct Recovered {
    uint32_t finished = 0, resumed = 0, expired = 0, unreadable = 0;
    uint32_t ops_kept = 0, ops_rerun = 0, ops_aborted = 0, ops_cancelled = 0;
  };
  Recovered Recover(std::vector<StoredJob>&& stored);
  absl::StatusOr<v1::Job> Get(uint64_t id, const std::string& prefix = "");
  // Cancels a running job; a finished one is returned as it is.
  absl::StatusOr<v1::Job> Cancel(uint64_t id, const std::string& prefix = "");
  absl::StatusOr<v1::ListJobsResponse> List(uint32_t page_size,
                                            const std::string& page_token,
                                            const std::string& prefix = "");

  // Shutdown: waits up to `timeout_ns` for running jobs, then cancels the
  // rest and waits for them to end (their ops must leave the engine before
  // it goes).
  void Drain(int64_t timeout_ns);

 private:
  friend class Job;
  void JobFinished(Job* job);
  void Prune();  // under mu_
  // Journals the job's state now (kJobState).
  void JournalState(Job& job, bool finished, int state_override = 0);
  void UpdateGauges();  // under mu_

  ServiceContext& ctx_;
  EventLog& log_;
  const Options options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, std::shared_ptr<Job>> jobs_;  // by id; newest last
  uint32_t running_ = 0;
  Journal* journal_ = nullptr;  // null: jobs live in memory only
};

int64_t WallNs();

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_JOBS_H_
