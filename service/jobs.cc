#include "service/jobs.h"

#include <errno.h>
#include <time.h>

#include <chrono>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/auth.h"
#include "service/convert.h"
#include "service/placement_check.h"

namespace overlapd {

int64_t WallNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

Job::Job(JobManager& manager, uint64_t id, v1::Batch& batch, std::string owner_prefix,
         BufferPins pins)
    : manager_(manager),
      id_(id),
      label_(batch.label()),
      owner_prefix_(std::move(owner_prefix)),
      owner_(std::make_shared<const std::string>(owner_prefix_)),
      ops_total_(static_cast<uint32_t>(batch.ops_size())),
      created_ns_(WallNs()),
      credit_(manager.options_.read_credit_bytes, manager.ctx_.read_budget) {
  run_ = std::make_unique<BatchRun>(id, batch, manager.ctx_.config->limits, this,
                                    &credit_, /*deliver_data=*/false, owner_prefix_,
                                    std::move(pins));
}

void Job::OnReadChunk(io::Op& op, uint64_t offset, std::string data,
                      uint32_t crc32c) {
  // Jobs read with deliver_data = false: the engine never hands them bytes.
  op.credit->Release(data.size());
}

Job::Job(JobManager& manager, const v1::Job& finished, std::string owner_prefix)
    : manager_(manager),
      id_(finished.id()),
      label_(finished.label()),
      owner_prefix_(std::move(owner_prefix)),
      owner_(std::make_shared<const std::string>(owner_prefix_)),
      ops_total_(finished.ops_total()),
      created_ns_(finished.created_ns()),
      credit_(0, nullptr) {
  started_ns_.store(finished.started_ns());
  finished_ns_.store(finished.finished_ns());
  state_.store(finished.state());
  ops_done_.store(finished.ops_done());
  ops_failed_.store(finished.ops_failed());
  ops_cancelled_.store(finished.ops_cancelled());
  bytes_read_.store(finished.bytes_read());
  bytes_written_.store(finished.bytes_written());
}

void Job::CountOutcome(io::OpType type, const v1::Event& event) {
  if (event.type() == v1::OP_CANCELLED) {
    ops_cancelled_.fetch_add(1, std::memory_order_relaxed);
  } else if (event.type() == v1::OP_FAILED) {
    ops_failed_.fetch_add(1, std::memory_order_relaxed);
  } else {
    ops_done_.fetch_add(1, std::memory_order_relaxed);
  }
  const io::OpTypeInfo& info = io::TypeInfo(type);
  if (info.reads_file) bytes_read_.fetch_add(event.bytes(), std::memory_order_relaxed);
  if (info.writes_file) bytes_written_.fetch_add(event.bytes(), std::memory_order_relaxed);
}

void Job::OnComplete(io::Op& op) {
  OpRun& run = RunOf(op);
  // An op run again after a restart: the directory its first run made
  // counts as made (a Mkdir is safe to run twice only so).
  if (resumed_ && op.type == io::OpType::kMkdir && op.result == -EEXIST) op.result = 0;
  // From here its bytes are counted below, not as live progress (a
  // snapshot in between may briefly miss them, never count them twice).
  run.done.store(true, std::memory_order_release);
  v1::Event event;
  FillOpIdentity(run, &event);
  FillCompletion(op, &event);
  manager_.ctx_.metrics->RecordOp(op);
  Conclude(run, event);
}

void Job::Conclude(OpRun& run, v1::Event& event) {
  CountOutcome(run.op.type, event);
  if (manager_.journal_ == nullptr) {
    manager_.log_.Append(&event, /*session=*/false, owner_);
  } else {
    std::vector<JournalRecord> with(1);
    with[0].kind = JournalRecord::Kind::kJobOp;
    with[0].id = id_;
    with[0].index = run.index;
    manager_.log_.Append(&event, /*session=*/false, owner_, &with);
  }
  if (run.batch->OpFinished()) Finish();
}

void Job::Finish() {
  ending_.store(true);
  // A cancel decides the state; otherwise any failed op (or op cancelled
  // by its broken chain) fails the job.
  int state = v1::SUCCEEDED;
  if (cancel_requested_.load()) {
    state = v1::CANCELLED;
  } else if (ops_failed_.load() + ops_cancelled_.load() > 0) {
    state = v1::FAILED;
  }
  v1::Event done;
  FillBatchComplete(*run_, &done);
  if (state != v1::SUCCEEDED) {
    done.mutable_error()->set_code(static_cast<int>(
        state == v1::CANCELLED ? absl::StatusCode::kCancelled : absl::StatusCode::kAborted));
    done.mutable_error()->set_message(absl::StrCat(
        "job ", id_, " ended ", v1::JobState_Name(static_cast<v1::JobState>(state)), ": ",
        ops_failed_.load(), " failed, ", ops_cancelled_.load(), " cancelled of ", ops_total_, " ops"));
  }
  const int64_t finished_ns = WallNs();
  // The job is seen to end (GetJob, Drain) once its end and its events are
  // where readers can have them: committed, with the journal.
  auto end = [this, state, finished_ns] {
    finished_ns_.store(finished_ns);
    state_.store(state);
    manager_.JobFinished(this);  // frees run_
  };
  if (manager_.journal_ == nullptr) {
    manager_.log_.Append(&done, /*session=*/false, owner_, nullptr, end);
    return;
  }
  // The job's end and its BATCH_COMPLETE commit together: a restart either
  // finds both or resumes a job whose every op has ended (and which then
  // ends at once, with one BATCH_COMPLETE).
  std::vector<JournalRecord> with(1);
  with[0].kind = JournalRecord::Kind::kJobState;
  with[0].id = id_;
  with[0].finished = true;
  v1::Job snapshot = Snapshot();
  snapshot.set_state(static_cast<v1::JobState>(state));
  snapshot.set_finished_ns(finished_ns);
  with[0].snapshot = snapshot.SerializeAsString();
  manager_.log_.Append(&done, /*session=*/false, owner_, &with, end);
}

v1::Job Job::Snapshot() const {
  v1::Job j;
  j.set_id(id_);
  j.set_state(static_cast<v1::JobState>(state_.load()));
  j.set_label(label_);
  j.set_ops_total(ops_total_);
  j.set_ops_done(ops_done_.load());
  j.set_ops_failed(ops_failed_.load());
  j.set_ops_cancelled(ops_cancelled_.load());
  uint64_t read = bytes_read_.load(), written = bytes_written_.load();
  if (run_ != nullptr) run_->LiveProgress(&read, &written);
  j.set_bytes_read(read);
  j.set_bytes_written(written);
  j.set_created_ns(created_ns_);
  j.set_started_ns(started_ns_.load());
  j.set_finished_ns(finished_ns_.load());
  return j;
}

JobManager::JobManager(ServiceContext& ctx, EventLog& log, Options options)
    : ctx_(ctx), log_(log), options_(options) {}

JobManager::~JobManager() = default;

namespace {

absl::Status JobNotFound(uint64_t id) {
  return absl::NotFoundError(absl::StrCat(
      "job ", id, " not found (finished jobs are kept for a while, then forgotten)"));
}

}  // namespace

void JobManager::Submit(v1::Batch& batch, const std::string& prefix, BufferPins pins,
                        SubmitDone done) {
  absl::Status valid = ValidateBatch(batch, ctx_.config->limits);
  if (valid.ok()) valid = CheckPlacement(batch, ctx_.placement, ctx_.metrics);
  if (valid.ok() && batch.ops_size() == 0) {
    valid = absl::InvalidArgumentError("ops: a job needs at least one op");
  }
  if (!valid.ok()) return done(valid);
  // The batch as submitted, before BatchRun moves the write payloads out.
  std::string stored_batch;
  if (journal_ != nullptr) stored_batch = batch.SerializeAsString();
  std::shared_ptr<Job> job;
  v1::Job snapshot;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (running_ >= options_.max_running) {
      return done(absl::ResourceExhaustedError(absl::StrCat(
          running_, " jobs are running, the limit (--max-jobs) is ",
          options_.max_running, "; retry when one ends")));
    }
    uint64_t id = ctx_.next_job_id.fetch_add(1, std::memory_order_relaxed);
    job = std::make_shared<Job>(*this, id, batch, prefix, std::move(pins));
    job->state_.store(v1::RUNNING);
    job->started_ns_.store(WallNs());
    jobs_.emplace(id, job);
    ++running_;
    UpdateGauges();
    snapshot = job->Snapshot();  // under mu_: Snapshot reads run_
  }
  // Started outside the lock: a fast job may finish (and take mu_) inside.
  // The BatchRun stays alive until then: only JobFinished frees it.
  if (journal_ == nullptr) {
    job->run_->Start(ctx_.engine);
    return done(std::move(snapshot));
  }
  // Journaled first: the job runs, and the client hears of it, once a
  // restart would find it.
  std::vector<JournalRecord> group(1);
  group[0].kind = JournalRecord::Kind::kJobCreated;
  group[0].id = job->id();
  group[0].owner = prefix;
  group[0].batch = std::move(stored_batch);
  group[0].snapshot = snapshot.SerializeAsString();
  journal_->Push(std::move(group), [this, job, snapshot = std::move(snapshot),
                                    done = std::move(done)]() mutable {
    job->run_->Start(ctx_.engine);
    done(std::move(snapshot));
  });
}

void JobManager::JournalState(Job& job, bool finished, int state_override) {
  if (journal_ == nullptr) return;
  std::vector<JournalRecord> group(1);
  group[0].kind = JournalRecord::Kind::kJobState;
  group[0].id = job.id();
  group[0].finished = finished;
  v1::Job snapshot = job.Snapshot();
  if (state_override != 0) snapshot.set_state(static_cast<v1::JobState>(state_override));
  group[0].snapshot = snapshot.SerializeAsString();
  journal_->Push(std::move(group));
}

absl::StatusOr<v1::Job> JobManager::Get(uint64_t id, const std::string& prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end() || !UnderPrefix(it->second->owner_prefix_, prefix)) return JobNotFound(id);
  return it->second->Snapshot();
}

absl::StatusOr<v1::Job> JobManager::Cancel(uint64_t id, const std::string& prefix) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end() || !UnderPrefix(it->second->owner_prefix_, prefix)) return JobNotFound(id);
  Job& job = *it->second;
  if (!job.finished() && !job.ending_.load() && job.run_ != nullptr) {
    job.cancel_requested_.store(true);
    // A restart before the job ends resumes it cancelled (job_recovery.cc).
    JournalState(job, /*finished=*/false, v1::CANCELLED);
    job.run_->Cancel(ctx_.engine);
    job.credit_.Open();  // parked ops must wake to see the cancel
  }
  return job.Snapshot();
}

absl::StatusOr<v1::ListJobsResponse> JobManager::List(uint32_t page_size,
                                                      const std::string& page_token,
                                                      const std::string& prefix) {
  uint64_t before = UINT64_MAX;
  if (!page_token.empty() && !absl::SimpleAtoi(page_token, &before)) {
    return absl::InvalidArgumentError("page_token: not a token from ListJobs");
  }
  if (page_size == 0) page_size = 100;
  page_size = std::min<uint32_t>(page_size, 1000);
  v1::ListJobsResponse resp;
  std::lock_guard<std::mutex> lock(mu_);
  Prune();
  auto it = jobs_.lower_bound(before);
  while (it != jobs_.begin() && static_cast<uint32_t>(resp.jobs_size()) < page_size) {
    --it;
    if (UnderPrefix(it->second->owner_prefix_, prefix)) *resp.add_jobs() = it->second->Snapshot();
  }
  if (it != jobs_.begin() && resp.jobs_size() > 0) {
    resp.set_next_page_token(std::to_string(resp.jobs(resp.jobs_size() - 1).id()));
  }
  return resp;
}

void JobManager::JobFinished(Job* job) {
  std::lock_guard<std::mutex> lock(mu_);
  // Freed under mu_: Cancel iterates the ops under the same lock.
  job->run_.reset();
  --running_;
  Prune();
  UpdateGauges();
  cv_.notify_all();
}

void JobManager::Prune() {
  const int64_t now = WallNs();
  uint32_t finished = 0;
  for (auto it = jobs_.rbegin(); it != jobs_.rend(); ++it) {
    if (it->second->finished()) ++finished;
  }
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    Job& j = *it->second;
    bool expired = j.finished() && (finished > options_.max_finished ||
                                    now - j.finished_ns() > options_.finished_ttl_ns);
    if (expired) {
      --finished;
      if (journal_ != nullptr) {
        std::vector<JournalRecord> group(1);
        group[0].kind = JournalRecord::Kind::kForgetJob;
        group[0].id = it->first;
        journal_->Push(std::move(group));
      }
      it = jobs_.erase(it);
    } else {
      ++it;
    }
  }
}

void JobManager::UpdateGauges() {
  int counts[6] = {0, 0, 0, 0, 0, 0};
  for (const auto& [id, job] : jobs_) counts[job->state_.load()]++;
  for (int s = v1::QUEUED; s <= v1::CANCELLED; ++s) {
    ctx_.metrics->jobs(s).Set(counts[s]);
  }
}

void JobManager::Drain(int64_t timeout_ns) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::nanoseconds(timeout_ns), [&] { return running_ == 0; });
  for (auto& [id, job] : jobs_) {
    if (!job->finished() && !job->ending_.load() && job->run_ != nullptr) {
      job->cancel_requested_.store(true);
      job->run_->Cancel(ctx_.engine);
      job->credit_.Open();
    }
  }
  cv_.wait(lock, [&] { return running_ == 0; });
}

}  // namespace overlapd
