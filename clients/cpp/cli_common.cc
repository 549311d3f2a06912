#include "clients/cpp/cli_common.h"

#include <cstdio>
#include <iostream>
#include <string>

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
          {"size", info.size()},
          {"mode", absl::StrFormat("%04o", info.mode())},
          {"mtime_ns", info.mtime_ns()},
          {"mtime", FormatTimeNs(info.mtime_ns())}};
}

uint64_t LatencyMicros(const v1::Event& event) {
  return (event.timing().queued_ns() + event.timing().service_ns()) / 1000;
}

json EventJson(const v1::Event& event, const absl::Status& status) {
  json object = {{"seq", event.seq()},
                 {"job_id", event.job_id()},
                 {"tag", event.tag()},
                 {"type", v1::EventType_Name(event.type())},
                 {"op_index", event.op_index()},
                 {"path", event.path()},
                 {"offset", event.offset()},
                 {"bytes", event.bytes()},
                 {"crc32c", absl::StrFormat("%08x", event.crc32c())},
                 {"latency_us", LatencyMicros(event)}};
  if (!status.ok()) {
    object["error"] = ErrorJson(status);
    if (event.error().errno_value() != 0) {
      object["error"]["errno"] = event.error().errno_value();
    }
  }
  if (event.type() == v1::EVENTS_LOST) {
    object["count"] = event.count();
    object["first_seq"] = event.first_seq();
    object["last_seq"] = event.last_seq();
  }
  return object;
}

}  // namespace cli
}  // namespace overlapd
