// Where overlapd's log lines go and how they look.
//
// Every log line goes to stderr; stdout carries only the one "overlapd
// ready ..." line that scripts wait for. Two formats:
//
//   text  2025-01-31T12:00:00.123+0000 info overlapd 0.1.0 serving ...
//   json  {"ts":"2025-01-31T12:00:00.123+0000","level":"info","msg":"overlapd 0.1.0 ..."}
//
// The access log (access_log.h) writes through its own logger, "access",
// whose lines are key=value pairs in text and JSON fields in json:
//
//   text  2025-01-31T12:00:00.123+0000 info access peer=ipv4:127.0.0.1:40112 method=...
//   json  {"ts":"...","level":"info","log":"access","peer":"ipv4:127.0.0.1:40112",...}
//
// Logging is synchronous (the line is written before the call returns), so
// lines logged before the ready line come before it, and nothing is lost
// when the process dies. What keeps a busy server from writing too much is
// the access log's rate limit, not a queue that could drop lines silently.
//
// Example (main.cc):
//
//   absl::Status s = overlapd::ConfigureLogging("info", "json");
//   spdlog::info("hello");                          // the default logger
//   overlapd::AccessLogger()->warn("peer=... code=...");
#ifndef OVERLAPD_SERVICE_LOGGING_H_
#define OVERLAPD_SERVICE_LOGGING_H_

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace overlapd {

// The names --log-level accepts, exactly (lower case): trace, debug, info,
// warn, error, critical, off.
const std::vector<std::string>& LogLevelNames();
// The names --log-format accepts: text, json.
const std::vector<std::string>& LogFormatNames();

// Sends the default logger and the access logger to stderr at `level` in
// `format`. INVALID_ARGUMENT for a name outside the lists above (spdlog's
// own parser would turn an unknown name into "off" without a word).
absl::Status ConfigureLogging(const std::string& level, const std::string& format);

// Whether ConfigureLogging chose JSON.
bool LogIsJson();

// The access log's logger (created by ConfigureLogging; before that, one
// that writes to stderr in text).
std::shared_ptr<spdlog::logger> AccessLogger();

// Appends `s` to `out` as the body of a JSON string (quotes not included):
// '"', '\\' and control characters escaped, bytes that are not UTF-8
// written as \u00XX of their value (a log line must stay valid JSON).
void AppendJsonEscaped(absl::string_view s, std::string* out);

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_LOGGING_H_
