#include "clients/cpp/cli_common.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/strings/cord.h"
#include "absl/strings/str_format.h"

namespace overlapd {
namespace cli {

using nlohmann::json;

namespace {
constexpr char kReportedUrl[] = "overlap/reported";
}  // namespace

CLI::App* AddCommand(CLI::App& app, const std::string& name,
                     const std::string& summary, const std::string& details) {
  CLI::App* command = app.add_subcommand(name, summary);
  command->footer(details + "\n\n" + app.get_footer());
  return command;
}

absl::Status Reported(absl::Status status) {
  status.SetPayload(kReportedUrl, absl::Cord("1"));
  return status;
}

bool IsReported(const absl::Status& status) {
  return status.GetPayload(kReportedUrl).has_value();
}

void PrintError(const absl::Status& status) {
  std::cout.flush();
  std::fflush(stdout);  // keep stdout results before the error in a shared tty
  std::fprintf(stderr, "overlap: %s: %s\n",
               absl::StatusCodeToString(status.code()).c_str(),
               std::string(status.message()).c_str());
}

void PrintJson(const json& object) { std::cout << object.dump() << '\n'; }

RetryPolicy GlobalOptions::retry_policy() const {
  RetryPolicy policy;
  policy.retries = std::max(retries, 0);
  return policy;
}

RetryFn GlobalOptions::on_retry() const {
  if (quiet) return nullptr;
  return [](const absl::Status& error, int retry, absl::Duration delay) {
    std::fprintf(stderr, "overlap: %s: %s; retry %d in %s\n",
                 absl::StatusCodeToString(error.code()).c_str(),
                 std::string(error.message()).c_str(), retry,
                 absl::FormatDuration(absl::Trunc(delay, absl::Milliseconds(1))).c_str());
  };
}

json U64(uint64_t value) { return std::to_string(value); }
json I64(int64_t value) { return std::to_string(value); }

std::string EscapeName(absl::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (unsigned char c : name) {
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '\\': out += "\\\\"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          absl::StrAppendFormat(&out, "\\x%02x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string ClosestMatch(absl::string_view word,
                         const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = 3;  // at most 2 edits
  for (const std::string& candidate : candidates) {
    const size_t d = EditDistance(word, candidate);
    if (d < best_distance && 2 * d < std::max(word.size(), candidate.size())) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

json ErrorJson(const absl::Status& status) {
  return {{"code", absl::StatusCodeToString(status.code())},
          {"message", std::string(status.message())}};
}

std::string HumanBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? absl::StrFormat("%d B", bytes)
                   : absl::StrFormat("%.1f %s", value, kUnits[unit]);
}

std::string FormatTimeNs(int64_t unix_ns) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixNanos(unix_ns),
                          absl::UTCTimeZone());
}

const char* FileTypeName(v1::FileType type) {
  switch (type) {
    case v1::FILE_TYPE_REGULAR: return "file";
    case v1::FILE_TYPE_DIRECTORY: return "dir";
    case v1::FILE_TYPE_SYMLINK: return "symlink";
    case v1::FILE_TYPE_OTHER: return "other";
    default: return "unknown";
  }
}

json FileInfoJson(const v1::FileInfo& info) {
  return {{"name", info.name()},
          {"type", FileTypeName(info.type())},
          {"size", U64(info.size())},
          {"mode", absl::StrFormat("%04o", info.mode())},
          {"mtime_ns", I64(info.mtime_ns())},
          {"mtime", FormatTimeNs(info.mtime_ns())}};
}

uint64_t LatencyMicros(const v1::Event& event) {
  return (event.timing().queued_ns() + event.timing().service_ns()) / 1000;
}

json EventJson(const v1::Event& event, const absl::Status& status) {
  json object = {{"seq", U64(event.seq())},
                 {"job_id", U64(event.job_id())},
                 {"tag", U64(event.tag())},
                 {"type", v1::EventType_Name(event.type())},
                 {"op_index", event.op_index()},
                 {"path", event.path()},
                 {"offset", U64(event.offset())},
                 {"bytes", U64(event.bytes())},
                 {"crc32c", absl::StrFormat("%08x", event.crc32c())},
                 {"latency_us", U64(LatencyMicros(event))}};
  if (!status.ok()) {
    object["error"] = ErrorJson(status);
    if (event.error().errno_value() != 0) {
      object["error"]["errno"] = event.error().errno_value();
    }
  }
  if (event.type() == v1::EVENTS_LOST) {
    object["count"] = U64(event.count());
    object["first_seq"] = U64(event.first_seq());
    object["last_seq"] = U64(event.last_seq());
  }
  return object;
}

}  // namespace cli
}  // namespace overlapd
