// Pieces shared by the `overlap` CLI's command files (overlap_main.cc,
// commands_jobs.cc): global flags, error reporting, and the output formats,
// so every command prints files, events and jobs the same way. Internal to
// clients/cpp; not a stable API.
//
// Output conventions: plain mode prints space-separated columns, one line per
// result (a free-text field such as a label or an error message comes last);
// --json prints one JSON object per line, with the .proto field names in
// snake_case, enums by name, 64-bit integers as decimal strings (protobuf's
// JSON mapping: a JSON number is a double to many readers, exact only up to
// 2^53, and nanosecond times are past that), 32-bit ones as numbers, CRC32C
// as 8 hex digits, and errors as {"code": "NOT_FOUND", "message": ...}. A
// failed command in --json mode also prints {"command", "error"} on stdout.
// Names printed in plain mode have control characters escaped (EscapeName),
// so a file name cannot move the cursor or forge a line.
#ifndef OVERLAPD_CLIENTS_CPP_CLI_COMMON_H_
#define OVERLAPD_CLIENTS_CPP_CLI_COMMON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "clients/cpp/client.h"
#include "clients/cpp/retry.h"
#include "overlapd/v1/overlapd.pb.h"

namespace CLI {
class App;
}  // namespace CLI

namespace overlapd {
namespace cli {

inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

inline constexpr int kExitInterrupted = 130;  // 128 + SIGINT, as shells report

// Flags every command sees.
struct GlobalOptions {
  std::string server;
  // --cluster / $OVERLAPD_CLUSTER: nodes of a cluster, "a:1,b:2"; each
  // command then goes to the node that owns its path (commands_cluster.h).
  std::string cluster;
  ConnectOptions connect;  // --tls-*, --token-file / $OVERLAPD_TOKEN
  bool json = false;
  bool progress = false;  // --progress: progress on stderr even when it is no terminal
  bool quiet = false;     // --quiet: no progress, no retry notes
  int retries = 3;        // --retries
  // --no-lane: bytes always over gRPC; --lane: the buffer lane or fail.
  // Neither: the lane when the server is on this host (get, cat, bench read).
  bool no_lane = false;
  bool lane = false;
  Client::LaneMode lane_mode() const {
    return no_lane ? Client::LaneMode::kOff
           : lane  ? Client::LaneMode::kRequire
                   : Client::LaneMode::kAuto;
  }

  // The policy of --retries, and the stderr note printed before each retry
  // (none with --quiet).
  RetryPolicy retry_policy() const;
  RetryFn on_retry() const;
};

// A file of commands (commands_files.cc, commands_jobs.cc, ...): adds its
// commands to the app in its constructor and runs the one that was parsed.
class CommandGroup {
 public:
  virtual ~CommandGroup() = default;
  // The status of this group's command that was parsed, or nullopt when the
  // command line named none of them.
  virtual std::optional<absl::Status> Run(Client& client) = 0;
};

// Adds a command whose help is a one-line `summary` in 'overlap --help' and
// `details` (what it prints, how it exits), then the parent's footer, in
// 'overlap NAME --help'.
CLI::App* AddCommand(CLI::App& app, const std::string& name,
                     const std::string& summary, const std::string& details);

// Marks a status whose failures were already printed (stat, read and rm
// report each failed path as it comes), so main only sets the exit code.
absl::Status Reported(absl::Status status);
bool IsReported(const absl::Status& status);

// "overlap: CODE_NAME: message" on stderr, after flushing stdout.
void PrintError(const absl::Status& status);

// One JSON object on one stdout line.
void PrintJson(const nlohmann::json& object);

// {"code": "NOT_FOUND", "message": "..."}.
nlohmann::json ErrorJson(const absl::Status& status);

// A 64-bit integer as JSON: a decimal string (see the conventions above).
nlohmann::json U64(uint64_t value);
nlohmann::json I64(int64_t value);

// `name` with control characters, DEL and backslash escaped as C does
// ("\n", "\t", "\x1b", "\\"), for plain-text output.
std::string EscapeName(absl::string_view name);

// The Levenshtein distance between two words, for did-you-mean hints.
size_t EditDistance(absl::string_view a, absl::string_view b);

// The candidate closest to `word` when it is close enough to be a typo
// (at most 2 edits, and fewer than half the word), else "".
std::string ClosestMatch(absl::string_view word,
                         const std::vector<std::string>& candidates);

// "1.5 MiB"; exact "123 B" below 1 KiB.
std::string HumanBytes(uint64_t bytes);

// Unix nanoseconds as "2024-05-01T12:00:00Z" (UTC, seconds).
std::string FormatTimeNs(int64_t unix_ns);

// "file", "dir", "symlink", "other", "unknown".
const char* FileTypeName(v1::FileType type);

// name, type, size, mode (octal text), mtime_ns, mtime (UTC text).
nlohmann::json FileInfoJson(const v1::FileInfo& info);

// An event as JSON: seq, job_id, tag, type, op_index, path, offset, bytes,
// crc32c, latency_us; "error" {code, message, errno} when `status` is not OK
// (pass internal::EventStatus for OP_FAILED / OP_CANCELLED, or a client-side
// check such as a CRC mismatch); count, first_seq, last_seq for EVENTS_LOST.
nlohmann::json EventJson(const v1::Event& event, const absl::Status& status);

// The event's queued + service time in microseconds.
uint64_t LatencyMicros(const v1::Event& event);

}  // namespace cli
}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_CLI_COMMON_H_
