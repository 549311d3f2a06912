#include "service/job_recovery.h"

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "service/batch_run.h"
#include "service/jobs.h"
#include "service/op_table.h"

namespace overlapd {

bool SafeToRerun(const v1::Op& op) {
  const ProtoOp* row = ProtoOpOf(op.kind_case());
  return row != nullptr && row->rerun_safe(op);
}

std::vector<ResumeStep> PlanResume(const v1::Batch& batch,
                                   const std::map<uint32_t, v1::Event>& ended) {
  const int n = batch.ops_size();
  std::vector<ResumeStep> plan(n, ResumeStep::kRun);
  bool broken = false;  // the current chain has a failed or aborted op
  for (int i = 0; i < n; ++i) {
    if (i == 0 || !batch.ops(i - 1).link_next()) broken = false;
    auto it = ended.find(static_cast<uint32_t>(i));
    if (it != ended.end()) {
      plan[i] = ResumeStep::kDone;
      const v1::EventType type = it->second.type();
      broken = broken || type == v1::OP_FAILED || type == v1::OP_CANCELLED;
    } else if (broken) {
      plan[i] = ResumeStep::kCancel;
    } else if (SafeToRerun(batch.ops(i))) {
      plan[i] = ResumeStep::kRun;
    } else {
      plan[i] = ResumeStep::kAbort;
      broken = true;
    }
  }
  return plan;
}

void FillResumeOutcome(ResumeStep step, v1::Event* event) {
  v1::Error* error = event->mutable_error();
  if (step == ResumeStep::kAbort) {
    event->set_type(v1::OP_FAILED);
    error->set_code(static_cast<int>(absl::StatusCode::kAborted));
    error->set_message(
        "outcome unknown after a restart: the op may or may not have run before overlapd "
        "stopped, and running it twice is not safe, so it was not run again; check the "
        "file and resubmit if needed");
  } else {
    event->set_type(v1::OP_CANCELLED);
    error->set_code(static_cast<int>(absl::StatusCode::kCancelled));
    error->set_message("cancelled after a restart: an earlier op of its link_next chain failed");
  }
}

// ---------------------------------------------------------------------------
// The jobs' side of a restart (declared in jobs.h).
// ---------------------------------------------------------------------------

void Job::Resume(const std::vector<ResumeStep>& plan,
                 const std::map<uint32_t, v1::Event>& ended) {
  resumed_ = true;
  std::vector<bool> run(plan.size(), false);
  std::vector<uint32_t> owned;  // ops this job ends itself
  for (uint32_t i = 0; i < plan.size(); ++i) {
    OpRun& op = run_->op(i);
    switch (plan[i]) {
      case ResumeStep::kDone:
        op.done.store(true, std::memory_order_release);
        CountOutcome(op.op.type, ended.at(i));
        break;
      case ResumeStep::kRun:
        run[i] = true;
        break;
      case ResumeStep::kAbort:
      case ResumeStep::kCancel:
        owned.push_back(i);
        break;
    }
  }
  // The count Resume holds keeps run_ alive through the loop below.
  BatchRun& batch = *run_;
  batch.Resume(manager_.ctx_.engine, run, static_cast<uint32_t>(owned.size()));
  for (uint32_t i : owned) {
    OpRun& op = batch.op(i);
    op.done.store(true, std::memory_order_release);
    v1::Event event;
    FillOpIdentity(op, &event);
    FillResumeOutcome(plan[i], &event);
    Conclude(op, event);
  }
  if (batch.OpFinished()) Finish();
}

namespace {

// The terminal events the store kept for a job, by op index.
std::map<uint32_t, v1::Event> EndedOps(const StoredJob& stored) {
  std::map<uint32_t, v1::Event> ended;
  for (const auto& [index, blob] : stored.ops) {
    v1::Event e;
    if (e.ParseFromString(blob)) ended.emplace(index, std::move(e));
  }
  return ended;
}

}  // namespace

JobManager::Recovered JobManager::Recover(std::vector<StoredJob>&& stored) {
  Recovered counts;
  struct ToResume {
    std::shared_ptr<Job> job;
    std::vector<ResumeStep> plan;
    std::map<uint32_t, v1::Event> ended;
  };
  std::vector<ToResume> resume;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (StoredJob& s : stored) {
      v1::Job snapshot;
      v1::Batch batch;
      if (!snapshot.ParseFromString(s.snapshot) || (!s.finished && !batch.ParseFromString(s.batch))) {
        ++counts.unreadable;  // quick_check passed, so only a format bug gets here
        continue;
      }
      if (s.finished) {
        jobs_.emplace(s.id, std::make_shared<Job>(*this, snapshot, s.owner));
        ++counts.finished;
        continue;
      }
      ToResume r;
      r.ended = EndedOps(s);
      r.plan = PlanResume(batch, r.ended);
      const bool cancelled = snapshot.state() == v1::CANCELLED;
      for (ResumeStep& step : r.plan) {
        if (cancelled && step != ResumeStep::kDone) step = ResumeStep::kCancel;
        counts.ops_kept += step == ResumeStep::kDone;
        counts.ops_rerun += step == ResumeStep::kRun;
        counts.ops_aborted += step == ResumeStep::kAbort;
        counts.ops_cancelled += step == ResumeStep::kCancel;
      }
      r.job = std::make_shared<Job>(*this, s.id, batch, s.owner);
      r.job->created_ns_ = snapshot.created_ns();
      r.job->cancel_requested_.store(cancelled);
      r.job->state_.store(v1::RUNNING);
      r.job->started_ns_.store(snapshot.started_ns());
      jobs_.emplace(s.id, r.job);
      ++running_;
      ++counts.resumed;
      resume.push_back(std::move(r));
    }
    const size_t before = jobs_.size();
    Prune();
    counts.expired = static_cast<uint32_t>(before - jobs_.size());
    counts.finished -= counts.expired;
    UpdateGauges();
  }
  // Outside the lock: an op may end at once and take it.
  for (ToResume& r : resume) r.job->Resume(r.plan, r.ended);
  return counts;
}

}  // namespace overlapd
