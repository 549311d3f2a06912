#include "service/durable_state.h"

#include <prometheus/counter.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "ioengine/status_macros.h"

namespace overlapd {

void AddDurabilityFlags(CLI::App& app, ServerConfig& config) {
  app.add_flag("--in-memory-state", config.in_memory_state,
               "Keep jobs and the event log in memory only: a restart forgets every job and "
               "event, and seqs start again (for comparison; by default they are journaled "
               "in --state-dir)");
  app.add_option("--progress-seconds", config.progress_seconds,
                 "A subscription sent nothing for this long gets a PROGRESS bookmark with the "
                 "seq the log has reached (0: never)")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
}

absl::StatusOr<std::unique_ptr<DurableState>> DurableState::Open(const ServerConfig& config) {
  if (config.in_memory_state) {
    spdlog::warn("--in-memory-state: jobs and events will not survive a restart");
    return std::unique_ptr<DurableState>(new DurableState(nullptr));
  }
  absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(config.state_dir);
  if (!store.ok()) return store.status();
  return std::unique_ptr<DurableState>(new DurableState(*std::move(store)));
}

DurableState::~DurableState() { Stop(); }

void DurableState::Stop() {
  if (journal_ != nullptr) journal_->Stop();
}

absl::Status DurableState::RestoreLog(ServiceContext& ctx, EventLog& log) {
  OVERLAPD_ASSIGN_OR_RETURN(uint64_t begin_pos, store_->Meta(kMetaBeginPos));
  OVERLAPD_ASSIGN_OR_RETURN(uint64_t evicted_last_seq, store_->Meta(kMetaEvictedLastSeq));
  OVERLAPD_ASSIGN_OR_RETURN(uint64_t end, store_->EventEnd());
  OVERLAPD_ASSIGN_OR_RETURN(uint64_t seq_floor, store_->Meta(kMetaSeqFloor));
  OVERLAPD_ASSIGN_OR_RETURN(uint64_t job_id_floor, store_->Meta(kMetaJobIdFloor));
  // A smaller --event-log-events than last time: only the newest load.
  const uint64_t capacity = ctx.config->event_log_events;
  uint64_t from = std::max(begin_pos, end > capacity ? end - capacity : 0);
  // The entry before `from`, when the disk still has it, is loaded too and
  // evicted by the capacity at once: so the log knows the seq of its
  // newest evicted entry exactly (the stored one may predate the last
  // commit's evictions).
  if (from > begin_pos) --from;
  std::vector<EventLog::Entry> entries;
  uint64_t first_pos = end, last_seq = 0;
  OVERLAPD_RETURN_IF_ERROR(store_->LoadEvents(from, [&](StoredEvent&& s) {
    auto event = std::make_shared<v1::Event>();
    if (!event->ParseFromString(s.event)) return;  // quick_check passed: a format bug
    first_pos = std::min(first_pos, s.pos);
    last_seq = s.seq;
    EventLog::Entry e;
    e.event = std::move(event);
    e.session = s.session;
    if (!s.owner.empty()) e.owner = std::make_shared<const std::string>(std::move(s.owner));
    entries.push_back(std::move(e));
  }));
  const size_t loaded = entries.size();
  // Evicted before now: the positions below `from` (lost counts stay exact).
  log.Restore(from, evicted_last_seq, std::move(entries), first_pos == end ? from : first_pos);
  log.set_next_seq(std::max({seq_floor, last_seq + 1, log.next_seq()}));
  ctx.next_job_id.store(std::max(job_id_floor, ctx.next_job_id.load()));
  spdlog::info("state store {}: {} events retained (seqs from {}), next seq {}",
               store_->path(), loaded, log.oldest_seq(), log.next_seq());
  return absl::OkStatus();
}

absl::Status DurableState::Start(ServiceContext& ctx, EventLog& log, JobManager& jobs,
                                 Metrics& metrics) {
  auto& family = prometheus::BuildCounter()
                     .Name("overlapd_jobs_recovered_total")
                     .Help("Jobs found in the state store at start, by outcome: finished "
                           "(answered again), resumed (were running), expired (past "
                           "--finished-job-ttl or --max-finished-jobs)")
                     .Register(*metrics.registry());
  prometheus::Counter& finished = family.Add({{"outcome", "finished"}});
  prometheus::Counter& resumed = family.Add({{"outcome", "resumed"}});
  prometheus::Counter& expired = family.Add({{"outcome", "expired"}});
  if (store_ == nullptr) return absl::OkStatus();
  const auto t0 = std::chrono::steady_clock::now();
  OVERLAPD_RETURN_IF_ERROR(RestoreLog(ctx, log));
  OVERLAPD_ASSIGN_OR_RETURN(std::vector<StoredJob> stored, store_->LoadJobs());
  for (const StoredJob& j : stored) {
    v1::Job snapshot;
    v1::Batch batch;
    if (!snapshot.ParseFromString(j.snapshot) || (!j.finished && !batch.ParseFromString(j.batch))) {
      return absl::DataLossError(absl::StrCat(
          "state store ", store_->path(), ": job ", j.id,
          " cannot be read; overlapd will not start without it (move the store aside, or "
          "start with --state-dir elsewhere)"));
    }
    ctx.next_job_id.store(std::max(ctx.next_job_id.load(), j.id + 1));
  }
  journal_ = std::make_unique<Journal>(*store_, log, ctx.next_job_id);
  OVERLAPD_RETURN_IF_ERROR(journal_->Start());
  log.AttachJournal(journal_.get());
  jobs.AttachJournal(journal_.get());
  JobManager::Recovered r = jobs.Recover(std::move(stored));
  finished.Increment(r.finished);
  resumed.Increment(r.resumed);
  expired.Increment(r.expired);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info(
      "recovered jobs from {} in {:.0f} ms: {} finished, {} resumed ({} ops already ended, {} "
      "run again, {} aborted as not safe to run twice, {} cancelled), {} expired",
      store_->path(), ms, r.finished, r.resumed, r.ops_kept, r.ops_rerun, r.ops_aborted,
      r.ops_cancelled, r.expired);
  return absl::OkStatus();
}

}  // namespace overlapd
