#include "clients/cpp/commands_jobs.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iostream>
#include <set>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "clients/cpp/batch_json.h"
#include "clients/cpp/client_internal.h"
#include "ioengine/status_macros.h"

namespace overlapd {
namespace cli {

using nlohmann::json;

namespace {

// GetJob is cheap (a map lookup on the server); 5 polls a second keeps
// --wait responsive without loading the server.
constexpr absl::Duration kPollInterval = absl::Milliseconds(200);

std::string AllEventTypeNames() {
  std::vector<std::string> names;
  const google::protobuf::EnumDescriptor* type = v1::EventType_descriptor();
  for (int i = 0; i < type->value_count(); ++i) {
    if (type->value(i)->number() == v1::EVENT_TYPE_UNSPECIFIED) continue;
    names.push_back(type->value(i)->name());
  }
  return absl::StrJoin(names, ", ");
}

json TimeOrNull(int64_t unix_ns) {
  return unix_ns == 0 ? json(nullptr) : json(FormatTimeNs(unix_ns));
}

// "12345 (2024-05-01T12:00:00Z, 5m ago)", or "0" while unset.
std::string TimeField(int64_t unix_ns, absl::Time now) {
  if (unix_ns == 0) return "0";
  return absl::StrFormat("%d (%s, %s ago)", unix_ns, FormatTimeNs(unix_ns),
                         FormatAge(unix_ns, now));
}

std::string ElapsedText(const v1::Job& job) {
  if (job.started_ns() == 0 || job.finished_ns() < job.started_ns()) return "";
  const absl::Duration elapsed = absl::Trunc(
      absl::Nanoseconds(job.finished_ns() - job.started_ns()),
      absl::Milliseconds(1));
  // FormatDuration prints a zero duration as a bare "0".
  if (elapsed == absl::ZeroDuration()) return " in <1ms";
  return absl::StrCat(" in ", absl::FormatDuration(elapsed));
}

void PrintJobFields(const v1::Job& job) {
  const absl::Time now = absl::Now();
  std::cout << "id: " << job.id() << '\n'
            << "state: " << v1::JobState_Name(job.state()) << '\n'
            << "label: " << EscapeName(job.label()) << '\n'
            << "ops_total: " << job.ops_total() << '\n'
            << "ops_done: " << job.ops_done() << '\n'
            << "ops_failed: " << job.ops_failed() << '\n'
            << "ops_cancelled: " << job.ops_cancelled() << '\n'
            << "bytes_read: " << job.bytes_read() << " ("
            << HumanBytes(job.bytes_read()) << ")\n"
            << "bytes_written: " << job.bytes_written() << " ("
            << HumanBytes(job.bytes_written()) << ")\n"
            << "created_ns: " << TimeField(job.created_ns(), now) << '\n'
            << "started_ns: " << TimeField(job.started_ns(), now) << '\n'
            << "finished_ns: " << TimeField(job.finished_ns(), now) << '\n';
}

void PrintJob(const GlobalOptions& global, const v1::Job& job) {
  if (global.json) {
    PrintJson(JobJson(job));
  } else {
    PrintJobFields(job);
  }
}

// Redraws "job 42: RUNNING 1/3 ops" on stderr while --wait polls; silent
// unless stderr is a terminal, like put/get progress.
class WaitProgress {
 public:
  WaitProgress() : enabled_(::isatty(STDERR_FILENO) == 1) {}
  ~WaitProgress() {
    if (drawn_) std::fputc('\n', stderr);
  }
  JobFn Callback() {
    if (!enabled_) return nullptr;
    return [this](const v1::Job& job) {
      drawn_ = true;
      std::fprintf(stderr, "\rjob %llu: %s %u/%u ops\x1b[K",
                   static_cast<unsigned long long>(job.id()),
                   v1::JobState_Name(job.state()).c_str(), job.ops_done(),
                   job.ops_total());
      std::fflush(stderr);
    };
  }

 private:
  bool enabled_;
  bool drawn_ = false;
};

}  // namespace

absl::StatusOr<v1::EventType> ParseEventTypeName(absl::string_view name) {
  std::string upper = absl::AsciiStrToUpper(name);
  absl::StrReplaceAll({{"-", "_"}}, &upper);
  v1::EventType type = v1::EVENT_TYPE_UNSPECIFIED;
  if (upper.empty() || !std::isalpha(static_cast<unsigned char>(upper[0])) ||
      !v1::EventType_Parse(upper, &type) ||
      type == v1::EVENT_TYPE_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown event type '", name,
                     "'; use one of (any case): ", AllEventTypeNames()));
  }
  return type;
}

std::string BackupPathFor(absl::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return absl::StrCat(path, ".bak");
}

absl::StatusOr<v1::Batch> BuildBackupBatch(const std::vector<std::string>& paths,
                                           bool durable,
                                           const std::string& label) {
  if (paths.empty()) return absl::InvalidArgumentError("backup: no paths");
  std::set<std::string> sources;
  for (const std::string& path : paths) {
    if (path.empty()) return absl::InvalidArgumentError("backup: empty path");
    if (!sources.insert(path).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("backup: ", path, " is given twice"));
    }
  }
  v1::Batch batch;
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string dst = BackupPathFor(paths[i]);
    // The ops of a batch run at the same time: copying onto a file another
    // op is reading would back up a half-written copy.
    if (sources.count(dst) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "backup: ", dst, " is both a path to back up and the backup of ",
          paths[i], "; back them up in separate jobs"));
    }
    v1::Op* op = batch.add_ops();
    op->set_tag(i + 1);
    v1::Copy* copy = op->mutable_copy();
    copy->set_src(paths[i]);
    copy->set_dst(dst);
    copy->set_durability(durable ? v1::DURABILITY_FULL : v1::DURABILITY_NONE);
  }
  if (!label.empty()) {
    batch.set_label(label);
  } else if (paths.size() == 1) {
    batch.set_label(absl::StrCat("backup ", paths[0]));
  } else {
    batch.set_label(
        absl::StrCat("backup ", paths[0], " +", paths.size() - 1, " more"));
  }
  return batch;
}

std::string FormatAge(int64_t unix_ns, absl::Time now) {
  if (unix_ns == 0) return "-";
  const int64_t seconds = std::max<int64_t>(
      0, absl::ToInt64Seconds(now - absl::FromUnixNanos(unix_ns)));
  if (seconds < 60) return absl::StrCat(seconds, "s");
  if (seconds < 3600) return absl::StrCat(seconds / 60, "m");
  if (seconds < 86400) return absl::StrCat(seconds / 3600, "h");
  return absl::StrCat(seconds / 86400, "d");
}

json JobJson(const v1::Job& job) {
  return {{"id", U64(job.id())},
          {"state", v1::JobState_Name(job.state())},
          {"label", job.label()},
          {"ops_total", job.ops_total()},
          {"ops_done", job.ops_done()},
          {"ops_failed", job.ops_failed()},
          {"ops_cancelled", job.ops_cancelled()},
          {"bytes_read", U64(job.bytes_read())},
          {"bytes_written", U64(job.bytes_written())},
          {"created_ns", I64(job.created_ns())},
          {"started_ns", I64(job.started_ns())},
          {"finished_ns", I64(job.finished_ns())},
          {"created", TimeOrNull(job.created_ns())},
          {"started", TimeOrNull(job.started_ns())},
          {"finished", TimeOrNull(job.finished_ns())}};
}

std::string JobTableHeader() {
  return absl::StrFormat("%-8s %-9s %11s %6s %10s %10s %5s %s", "ID", "STATE",
                         "DONE/TOTAL", "FAILED", "READ", "WRITTEN", "AGE",
                         "LABEL");
}

std::string JobRow(const v1::Job& job, absl::Time now) {
  return absl::StrFormat(
      "%-8d %-9s %11s %6d %10s %10s %5s %s", job.id(),
      v1::JobState_Name(job.state()),
      absl::StrCat(job.ops_done(), "/", job.ops_total()), job.ops_failed(),
      HumanBytes(job.bytes_read()), HumanBytes(job.bytes_written()),
      FormatAge(job.created_ns(), now), EscapeName(job.label()));
}

std::string JobSummary(const v1::Job& job) {
  return absl::StrFormat(
      "job %d %s: %d/%d ops done, %d failed, %d cancelled, %s read, %s "
      "written%s",
      job.id(), v1::JobState_Name(job.state()), job.ops_done(),
      job.ops_total(), job.ops_failed(), job.ops_cancelled(),
      HumanBytes(job.bytes_read()), HumanBytes(job.bytes_written()),
      ElapsedText(job));
}

absl::Status JobOutcome(const v1::Job& job) {
  switch (job.state()) {
    case v1::SUCCEEDED:
      return absl::OkStatus();
    case v1::FAILED:
      // A Job carries counts, not the errors; the OP_FAILED events do.
      return absl::AbortedError(absl::StrFormat(
          "job %d FAILED: %d of %d ops failed (errors: overlap watch --job %d "
          "--from-seq 1 --type op_failed)",
          job.id(), job.ops_failed(), job.ops_total(), job.id()));
    case v1::CANCELLED:
      return absl::CancelledError(absl::StrFormat(
          "job %d CANCELLED: %d of %d ops done, %d cancelled", job.id(),
          job.ops_done(), job.ops_total(), job.ops_cancelled()));
    default:
      return absl::FailedPreconditionError(absl::StrFormat(
          "job %d has not ended: %s", job.id(),
          v1::JobState_Name(job.state())));
  }
}

std::string EventLine(const v1::Event& event) {
  std::string line = absl::StrFormat(
      "%d %d %d %s %s %d %d %08x", event.seq(), event.job_id(), event.tag(),
      v1::EventType_Name(event.type()),
      event.path().empty() ? "-" : EscapeName(event.path()), event.offset(), event.bytes(),
      event.crc32c());
  if (event.type() == v1::EVENTS_LOST) {
    absl::StrAppendFormat(&line, " lost=%d first_seq=%d last_seq=%d",
                          event.count(), event.first_seq(), event.last_seq());
  }
  if (event.type() == v1::OP_FAILED || event.type() == v1::OP_CANCELLED) {
    const absl::Status status = internal::EventStatus(event);
    absl::StrAppend(&line, " ", absl::StatusCodeToString(status.code()), ": ",
                    status.message());
  }
  return line;
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

namespace {

// CLI::NonNegativeNumber names DBL_MAX in full in its message.
const CLI::Validator& SecondsValidator() {
  static const CLI::Validator* const kSeconds = new CLI::Validator(
      [](std::string& text) -> std::string {
        double seconds = 0;
        if (!absl::SimpleAtod(text, &seconds) || !(seconds >= 0)) {
          return "must be a number of seconds >= 0, not '" + text + "'";
        }
        return std::string();
      },
      "SECONDS");
  return *kSeconds;
}

}  // namespace

JobCommands::JobCommands(CLI::App& app, const GlobalOptions& global)
    : global_(global) {
  AddSubmitCommands(app);
  AddJobCommands(app);
  AddWatch(app);
}

void JobCommands::AddSubmitCommands(CLI::App& app) {
  const CLI::Validator& kSeconds = SecondsValidator();
  backup_ = AddCommand(
      app, "backup", "Back up remote files to PATH.bak in one detached job",
      "One detached job (Submit) with one server-side Copy op per PATH:\n"
      "PATH -> PATH.bak, tags 1..N in argument order. The server runs it even\n"
      "if this command exits. Prints the job id (--json: the job).\n"
      "With --wait, then polls the job every 200 ms until it ends and prints\n"
      "  job ID STATE: D/T ops done, F failed, C cancelled, R read, W written\n"
      "(--json: the final job). Exits 1 when the job FAILED (ABORTED), was\n"
      "CANCELLED, or is still running at --timeout (DEADLINE_EXCEEDED; the\n"
      "job keeps running: see 'overlap job ID').");
  backup_->add_option("PATH", paths_, "Remote files to back up")->required();
  backup_->add_flag("--durable", durable_,
                    "Each copy completes only once it and its directory entry "
                    "are on stable storage (DURABILITY_FULL)");
  backup_->add_flag("--wait", wait_, "Wait for the job to end (see above)");
  backup_->add_option("--timeout", timeout_s_,
                      "With --wait: give up waiting after this many seconds "
                      "(0: no limit)")
      ->check(kSeconds);
  backup_->add_option("--label", label_,
                      "Job label shown by 'overlap jobs' (default: "
                      "'backup PATH [+N more]')");
  // Built while parsing, so a bad list of paths is a usage error (exit 2).
  backup_->callback([this] {
    absl::StatusOr<v1::Batch> batch =
        BuildBackupBatch(paths_, durable_, label_);
    if (!batch.ok()) throw CLI::ValidationError(std::string(batch.status().message()));
    backup_batch_ = *std::move(batch);
  });

  submit_ = AddCommand(
      app, "submit", "Start a detached job from a JSON batch file",
      "Submits the batch in FILE as a detached job and prints its id\n"
      "(--json: the job). FILE is protobuf's JSON form of overlapd.v1.Batch:\n"
      "  {\"label\": \"nightly\", \"ops\": [\n"
      "    {\"tag\": \"1\", \"copy\": {\"src\": \"a.txt\", \"dst\": \"a.txt.bak\"}},\n"
      "    {\"tag\": \"2\", \"read\": {\"path\": \"b.bin\"}},\n"
      "    {\"write\": {\"path\": \"c.txt\", \"data\": \"aGVsbG8=\",\n"
      "               \"mode\": \"WRITE_MODE_CREATE_NEW\"}, \"linkNext\": true},\n"
      "    {\"fsync\": {\"path\": \"c.txt\"}}]}\n"
      "One key per op: read, write, copy, fsync, stat, list, rename, delete,\n"
      "mkdir. data is base64; enums by name; unknown fields are errors.\n"
      "The full format: clients/cpp/SUBMIT_FORMAT.md.\n"
      "--wait and --timeout work as for 'overlap backup'.");
  submit_->add_option("FILE", file_, "JSON batch file ('-': stdin)")
      ->required();
  submit_->add_flag("--wait", wait_, "Wait for the job to end (see backup)");
  submit_->add_option("--timeout", timeout_s_,
                      "With --wait: give up waiting after this many seconds "
                      "(0: no limit)")
      ->check(kSeconds);

}

void JobCommands::AddJobCommands(CLI::App& app) {
  const CLI::Validator& kSeconds = SecondsValidator();
  jobs_ = AddCommand(
      app, "jobs", "List jobs, newest first",
      "Prints a header line, then one line per job:\n"
      "  ID STATE DONE/TOTAL FAILED READ WRITTEN AGE LABEL\n"
      "DONE/TOTAL counts ops; READ and WRITTEN are bytes; AGE is the time\n"
      "since the job was created. --json: one job per line, no header.");
  jobs_->add_option("--limit", limit_, "Show at most N jobs (0: all)")
      ->capture_default_str();

  job_ = AddCommand(
      app, "job", "Show one job",
      "Prints every field of the job as 'name: value' lines: id, state,\n"
      "label, ops_total, ops_done, ops_failed, ops_cancelled, bytes_read,\n"
      "bytes_written, created_ns, started_ns, finished_ns (times also in\n"
      "UTC and as an age; 0 while not yet). --json: one object.");
  job_->add_option("ID", id_, "Job id")->required();

  cancel_ = AddCommand(
      app, "cancel", "Cancel a job",
      "Asks the server to cancel the job: ops not yet done end as\n"
      "OP_CANCELLED. Prints the job as it then stands, like 'overlap job'\n"
      "(it may still be RUNNING while ops in flight wind down). With --wait,\n"
      "prints it once it has ended instead; exit 0 whatever its final state.");
  cancel_->add_option("ID", id_, "Job id")->required();
  cancel_->add_flag("--wait", wait_,
                    "Wait for the job to end (polls every 200 ms)");
  cancel_->add_option("--timeout", timeout_s_,
                      "With --wait: give up waiting after this many seconds "
                      "(0: no limit)")
      ->check(kSeconds);

}

void JobCommands::AddWatch(CLI::App& app) {
  watch_ = AddCommand(
      app, "watch", "Follow the server's event stream",
      "Subscribes to the server's event log and prints one line per event,\n"
      "flushed as it arrives:\n"
      "  SEQ JOB_ID TAG TYPE PATH OFFSET BYTES CRC32C [CODE: error message]\n"
      "PATH is '-' when empty; CRC32C is 8 hex digits; EVENTS_LOST (this\n"
      "watcher fell behind the log) adds 'lost=N first_seq=A last_seq=B'.\n"
      "--json: one object per event, and also the PROGRESS bookmarks the\n"
      "server sends when nothing matched for a while (their seq is where to\n"
      "resume; they are not counted). Runs until the server ends the stream,\n"
      "--count events have arrived (then exits 0), or it is interrupted.\n"
      "Filters combine with AND; a repeated --job or --type matches any of\n"
      "its values. Resume after a break with --from-seq LAST_SEQ+1.");
  watch_->add_option("--job", job_ids_,
                     "Only events of this job (repeatable)")
      ->allow_extra_args(false);
  watch_->add_option("--prefix", prefix_,
                     "Only events whose path starts with P");
  watch_->add_option("--type", types_,
                     "Only events of type T (repeatable), e.g. COPY_COMPLETE "
                     "or op_failed")
      ->allow_extra_args(false)
      ->check(CLI::Validator(
          [](std::string& name) -> std::string {
            const absl::StatusOr<v1::EventType> type = ParseEventTypeName(name);
            return type.ok() ? std::string()
                             : std::string(type.status().message());
          },
          "TYPE"));
  from_seq_option_ = watch_->add_option(
      "--from-seq", from_seq_,
      "Start at this sequence number, replaying what the server's event log "
      "still holds (0: its oldest event; default: new events only)");
  watch_->add_option("--count", count_,
                     "Exit after N events (EVENTS_LOST counts as one; 0: no "
                     "limit)");
  watch_->add_flag("--session-events", session_events_,
                   "Also show events of Execute/Session calls, not only of "
                   "detached jobs");
}

std::optional<absl::Status> JobCommands::Run(Client& client) {
  if (backup_->parsed()) return RunBackup(client);
  if (submit_->parsed()) return RunSubmit(client);
  if (jobs_->parsed()) return RunJobs(client);
  if (job_->parsed()) return RunJob(client);
  if (cancel_->parsed()) return RunCancel(client);
  if (watch_->parsed()) return RunWatch(client);
  return std::nullopt;
}

absl::Status JobCommands::ReportSubmitted(Client& client, const v1::Job& job) {
  if (global_.json) {
    PrintJson(JobJson(job));
  } else {
    std::cout << job.id() << '\n';
  }
  if (!wait_) return absl::OkStatus();
  // The id is out before the wait, so a script or a person can follow or
  // cancel the job while this waits.
  std::cout.flush();
  const absl::Duration timeout = timeout_s_ > 0 ? absl::Seconds(timeout_s_)
                                                : absl::InfiniteDuration();
  absl::StatusOr<v1::Job> final_job;
  {
    WaitProgress progress;
    final_job = client.WaitJob(job.id(), kPollInterval, timeout,
                               progress.Callback());
  }
  OVERLAPD_RETURN_IF_ERROR(final_job.status());
  if (global_.json) {
    PrintJson(JobJson(*final_job));
  } else {
    std::cout << JobSummary(*final_job) << '\n';
  }
  return JobOutcome(*final_job);
}

absl::Status JobCommands::RunBackup(Client& client) {
  OVERLAPD_ASSIGN_OR_RETURN(v1::Job job, client.Submit(backup_batch_));
  return ReportSubmitted(client, job);
}

absl::Status JobCommands::RunSubmit(Client& client) {
  OVERLAPD_ASSIGN_OR_RETURN(v1::Batch batch, LoadBatchJsonFile(file_));
  OVERLAPD_ASSIGN_OR_RETURN(v1::Job job, client.Submit(batch));
  return ReportSubmitted(client, job);
}

absl::Status JobCommands::RunJobs(Client& client) {
  OVERLAPD_ASSIGN_OR_RETURN(std::vector<v1::Job> jobs,
                           client.ListAllJobs(static_cast<size_t>(limit_)));
  if (global_.json) {
    for (const v1::Job& job : jobs) PrintJson(JobJson(job));
    return absl::OkStatus();
  }
  const absl::Time now = absl::Now();
  std::cout << JobTableHeader() << '\n';
  for (const v1::Job& job : jobs) std::cout << JobRow(job, now) << '\n';
  return absl::OkStatus();
}

absl::Status JobCommands::RunJob(Client& client) {
  OVERLAPD_ASSIGN_OR_RETURN(v1::Job job, client.GetJob(id_));
  PrintJob(global_, job);
  return absl::OkStatus();
}

absl::Status JobCommands::RunCancel(Client& client) {
  OVERLAPD_ASSIGN_OR_RETURN(v1::Job job, client.CancelJob(id_));
  if (wait_) {
    const absl::Duration timeout = timeout_s_ > 0 ? absl::Seconds(timeout_s_)
                                                  : absl::InfiniteDuration();
    WaitProgress progress;
    OVERLAPD_ASSIGN_OR_RETURN(
        job, client.WaitJob(id_, kPollInterval, timeout, progress.Callback()));
  }
  PrintJob(global_, job);
  return absl::OkStatus();
}

absl::Status JobCommands::RunWatch(Client& client) {
  v1::SubscribeRequest request;
  for (uint64_t id : job_ids_) request.add_job_ids(id);
  request.set_path_prefix(prefix_);
  for (const std::string& name : types_) {
    // Already validated by the option's check; parsed again for the value.
    OVERLAPD_ASSIGN_OR_RETURN(v1::EventType type, ParseEventTypeName(name));
    request.add_types(type);
  }
  if (from_seq_option_->count() > 0) request.set_from_seq(from_seq_);
  request.set_include_session_events(session_events_);

  uint64_t seen = 0;
  return client.Subscribe(request, [&](const v1::Event& event) {
    // A PROGRESS bookmark says how far the log has gone when nothing
    // matched for a while: scripts that resume by seq get it (--json), it
    // is no event of its own for people, and never counts for --count.
    if (event.type() == v1::PROGRESS) {
      if (global_.json) {
        PrintJson(EventJson(event, absl::OkStatus()));
        std::cout.flush();
      }
      return true;
    }
    if (global_.json) {
      const bool failed =
          event.type() == v1::OP_FAILED || event.type() == v1::OP_CANCELLED;
      PrintJson(EventJson(
          event, failed ? internal::EventStatus(event) : absl::OkStatus()));
    } else {
      std::cout << EventLine(event) << '\n';
    }
    // A watcher feeds pipes and logs: each event is out as soon as it came.
    std::cout.flush();
    ++seen;
    return count_ == 0 || seen < count_;
  });
}

}  // namespace cli
}  // namespace overlapd
