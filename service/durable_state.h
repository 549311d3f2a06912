// What survives a restart, wired into the server: opens --state-dir's store
// (refusing to start on a damaged one), restores the event log and the
// counters from it, starts the journal, hands the stored jobs back to the
// job manager, and stops the journal last. Also the flags that choose it.
#ifndef OVERLAPD_SERVICE_DURABLE_STATE_H_
#define OVERLAPD_SERVICE_DURABLE_STATE_H_

#include <CLI/CLI.hpp>
#include <memory>

#include "absl/status/statusor.h"
#include "service/config.h"
#include "service/event_log.h"
#include "service/jobs.h"
#include "service/journal.h"
#include "service/metrics.h"
#include "service/service_context.h"
#include "service/state_store.h"

namespace overlapd {

// --in-memory-state, --progress-seconds.
void AddDurabilityFlags(CLI::App& app, ServerConfig& config);

// Example (main.cc):
//
//   auto durable = DurableState::Open(config);        // refuses a damaged store
//   ...
//   durable->Start(ctx, log, jobs, metrics);          // before clients come
//   ... serve, drain, stop the engine ...
//   durable->Stop();
class DurableState {
 public:
  // Opens and checks the store in config.state_dir (nothing with
  // --in-memory-state). The error names the file and what to do.
  static absl::StatusOr<std::unique_ptr<DurableState>> Open(const ServerConfig& config);
  ~DurableState();

  // Restores the retained events into `log` and the seq and id counters,
  // starts the journal, and gives `jobs` the stored jobs (finished ones
  // back, running ones resumed). Logs what it recovered and counts it in
  // overlapd_jobs_recovered_total{outcome}.
  absl::Status Start(ServiceContext& ctx, EventLog& log, JobManager& jobs, Metrics& metrics);
  // Commits what is queued; call once the engine has stopped.
  void Stop();

 private:
  DurableState(std::unique_ptr<StateStore> store) : store_(std::move(store)) {}
  absl::Status RestoreLog(ServiceContext& ctx, EventLog& log);

  std::unique_ptr<StateStore> store_;  // null: in memory only
  std::unique_ptr<Journal> journal_;
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_DURABLE_STATE_H_
