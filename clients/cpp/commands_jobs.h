// The job and event commands of the `overlap` CLI: backup, submit, jobs,
// job, cancel, watch. The command logic sits in JobCommands; the pieces below
// it need no server and are unit-tested in client_test.cc. Internal to
// clients/cpp; not a stable API.
#ifndef OVERLAPD_CLIENTS_CPP_COMMANDS_JOBS_H_
#define OVERLAPD_CLIENTS_CPP_COMMANDS_JOBS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "clients/cpp/cli_common.h"
#include "clients/cpp/client.h"
#include "overlapd/v1/overlapd.pb.h"

namespace CLI {
class App;
}  // namespace CLI

namespace overlapd {
namespace cli {

// Adds the job commands to `app` (in the constructor) and runs the one the
// user chose (Run, after app.parse). Not copyable or movable: CLI11 writes
// the parsed flags into its members.
class JobCommands final : public CommandGroup {
 public:
  JobCommands(CLI::App& app, const GlobalOptions& global);
  JobCommands(const JobCommands&) = delete;
  JobCommands& operator=(const JobCommands&) = delete;

  // The status of the job command that was parsed, or nullopt when the
  // command line named none of them.
  std::optional<absl::Status> Run(Client& client) override;

 private:
  void AddSubmitCommands(CLI::App& app);  // backup, submit
  void AddJobCommands(CLI::App& app);     // jobs, job, cancel
  void AddWatch(CLI::App& app);

  absl::Status RunBackup(Client& client);
  absl::Status RunSubmit(Client& client);
  absl::Status RunJobs(Client& client);
  absl::Status RunJob(Client& client);
  absl::Status RunCancel(Client& client);
  absl::Status RunWatch(Client& client);
  // Prints the submitted job; with --wait, waits for it to end and prints
  // the final state (see backup --help).
  absl::Status ReportSubmitted(Client& client, const v1::Job& job);

  const GlobalOptions& global_;
  CLI::App* backup_ = nullptr;
  CLI::App* submit_ = nullptr;
  CLI::App* jobs_ = nullptr;
  CLI::App* job_ = nullptr;
  CLI::App* cancel_ = nullptr;
  CLI::App* watch_ = nullptr;

  // backup / submit
  std::vector<std::string> paths_;
  std::string file_;
  std::string label_;
  bool durable_ = false;
  bool wait_ = false;
  double timeout_s_ = 0;
  v1::Batch backup_batch_;  // built from the flags while parsing
  // jobs / job / cancel
  uint64_t limit_ = 100;
  uint64_t id_ = 0;
  // watch
  std::vector<uint64_t> job_ids_;
  std::string prefix_;
  std::vector<std::string> types_;
  uint64_t from_seq_ = 0;
  CLI::Option* from_seq_option_ = nullptr;  // given or not: from_seq is optional
  uint64_t count_ = 0;
  bool session_events_ = false;
};

// "COPY_COMPLETE", "copy_complete" or "copy-complete" -> v1::COPY_COMPLETE.
// Any case; EVENT_TYPE_UNSPECIFIED and numbers are refused. The error
// (INVALID_ARGUMENT) lists the valid names.
absl::StatusOr<v1::EventType> ParseEventTypeName(absl::string_view name);

// Where backup copies `path`: "a/b.txt" -> "a/b.txt.bak" (trailing slashes
// dropped first).
std::string BackupPathFor(absl::string_view path);

// The batch `overlap backup` submits: one Copy op per path, PATH ->
// PATH.bak, tags 1..N in argument order, DURABILITY_FULL when `durable`.
// `label` empty: "backup FIRST_PATH" (+ " +N more"). INVALID_ARGUMENT for
// no paths, an empty path, a path given twice, or a path that is also
// another path's backup (both ops would run at once on one file).
absl::StatusOr<v1::Batch> BuildBackupBatch(const std::vector<std::string>& paths,
                                           bool durable,
                                           const std::string& label);

// Time since `unix_ns`, compact: "42s", "17m", "5h", "3d"; "-" for 0.
std::string FormatAge(int64_t unix_ns, absl::Time now);

// A job as JSON: the Job fields by their .proto names, state by name, plus
// "created" / "started" / "finished" as UTC times (null while 0).
nlohmann::json JobJson(const v1::Job& job);

// One row of `overlap jobs`, under JobTableHeader():
// ID STATE DONE/TOTAL FAILED READ WRITTEN AGE LABEL.
std::string JobTableHeader();
std::string JobRow(const v1::Job& job, absl::Time now);

// The final line of --wait: "job 42 SUCCEEDED: 3/3 ops done, 0 failed,
// 0 cancelled, 1.0 MiB read, 1.0 MiB written in 1.2s".
std::string JobSummary(const v1::Job& job);

// OK for SUCCEEDED; ABORTED for FAILED, CANCELLED for CANCELLED (the exit
// status of --wait); FAILED_PRECONDITION for a job that has not ended.
absl::Status JobOutcome(const v1::Job& job);

// One line of `overlap watch`:
// SEQ JOB_ID TAG TYPE PATH OFFSET BYTES CRC32C [CODE_NAME: message]
// with "-" for an empty path, and "lost=N first_seq=A last_seq=B" after
// CRC32C for EVENTS_LOST.
std::string EventLine(const v1::Event& event);

}  // namespace cli
}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_COMMANDS_JOBS_H_
