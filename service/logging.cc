#include "service/logging.h"

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace overlapd {
namespace {

constexpr const char* kAccessLoggerName = "access";
std::atomic<bool> json_format{false};

// "2025-01-31T12:00:00.123Z": UTC, milliseconds.
void AppendTimestamp(spdlog::log_clock::time_point tp, std::string* out) {
  const auto since = tp.time_since_epoch();
  const time_t secs = std::chrono::duration_cast<std::chrono::seconds>(since).count();
  const int millis = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(since).count() % 1000);
  struct tm utc;
  gmtime_r(&secs, &utc);
  char buf[40];
  const size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &utc);
  out->append(buf, n);
  char ms[8];
  snprintf(ms, sizeof(ms), ".%03dZ", millis);
  out->append(ms);
}

// The names --log-level takes ("warn", where spdlog writes "warning").
absl::string_view LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return "trace";
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    case spdlog::level::err: return "error";
    case spdlog::level::critical: return "critical";
    default: return "off";
  }
}

// One line per message, in text or JSON; see logging.h. Access lines carry
// their own fields (key=value in text, JSON members in json).
class LineFormatter final : public spdlog::formatter {
 public:
  explicit LineFormatter(bool json) : json_(json) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line;
    line.reserve(msg.payload.size() + 96);
    const absl::string_view payload(msg.payload.data(), msg.payload.size());
    const bool access = absl::string_view(msg.logger_name.data(), msg.logger_name.size()) ==
                        kAccessLoggerName;
    if (json_) {
      line += "{\"ts\":\"";
      AppendTimestamp(msg.time, &line);
      absl::StrAppend(&line, "\",\"level\":\"", LevelName(msg.level), "\",");
      if (access) {
        absl::StrAppend(&line, "\"log\":\"access\",", payload, "}\n");
      } else {
        line += "\"msg\":\"";
        AppendJsonEscaped(payload, &line);
        line += "\"}\n";
      }
    } else {
      AppendTimestamp(msg.time, &line);
      absl::StrAppend(&line, " ", LevelName(msg.level), " ", access ? "access " : "", payload,
                      "\n");
    }
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>(json_);
  }

 private:
  const bool json_;
};

std::shared_ptr<spdlog::logger> MakeLogger(const std::string& name, bool json,
                                           spdlog::level::level_enum level) {
  // stderr_sink_mt writes each line with one fwrite and flushes it.
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  sink->set_formatter(std::make_unique<LineFormatter>(json));
  auto logger = std::make_shared<spdlog::logger>(name, std::move(sink));
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  return logger;
}

std::shared_ptr<spdlog::logger>& AccessLoggerSlot() {
  static std::shared_ptr<spdlog::logger>* slot = new std::shared_ptr<spdlog::logger>(
      MakeLogger(kAccessLoggerName, false, spdlog::level::info));
  return *slot;
}

// Length of the valid UTF-8 sequence at the start of `s`, or 0.
size_t Utf8Length(absl::string_view s) {
  const auto c = static_cast<unsigned char>(s[0]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || n > s.size()) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) return 0;
  }
  return n;
}

}  // namespace

const std::vector<std::string>& LogLevelNames() {
  static const std::vector<std::string> names = {"trace", "debug", "info", "warn",
                                                 "error", "critical", "off"};
  return names;
}

const std::vector<std::string>& LogFormatNames() {
  static const std::vector<std::string> names = {"text", "json"};
  return names;
}

absl::Status ConfigureLogging(const std::string& level, const std::string& format) {
  const auto& levels = LogLevelNames();
  if (std::find(levels.begin(), levels.end(), level) == levels.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--log-level ", level, ": not a level; use one of ", absl::StrJoin(levels, ", ")));
  }
  const auto& formats = LogFormatNames();
  if (std::find(formats.begin(), formats.end(), format) == formats.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--log-format ", format, ": use one of ", absl::StrJoin(formats, ", ")));
  }
  const bool json = format == "json";
  json_format.store(json);
  const spdlog::level::level_enum lvl = spdlog::level::from_str(level);
  spdlog::set_default_logger(MakeLogger("", json, lvl));
  AccessLoggerSlot() = MakeLogger(kAccessLoggerName, json, lvl);
  return absl::OkStatus();
}

bool LogIsJson() { return json_format.load(); }

std::shared_ptr<spdlog::logger> AccessLogger() { return AccessLoggerSlot(); }

void AppendJsonEscaped(absl::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  while (!s.empty()) {
    const auto c = static_cast<unsigned char>(s[0]);
    const size_t n = Utf8Length(s);
    if (n > 1) {
      out->append(s.data(), n);
      s.remove_prefix(n);
      continue;
    }
    s.remove_prefix(1);
    switch (c) {
      case '"': *out += "\\\""; continue;
      case '\\': *out += "\\\\"; continue;
      case '\n': *out += "\\n"; continue;
      case '\r': *out += "\\r"; continue;
      case '\t': *out += "\\t"; continue;
      default: break;
    }
    if (n == 1 && c >= 0x20 && c != 0x7F) {
      out->push_back(static_cast<char>(c));
    } else {
      // Control characters, and bytes that are not UTF-8, by their value.
      *out += "\\u00";
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 0xF]);
    }
  }
}

}  // namespace overlapd
