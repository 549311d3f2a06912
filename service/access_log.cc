#include "service/access_log.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/event_stream.h"
#include "service/logging.h"

namespace overlapd {
namespace {

constexpr int kOk = 0;
constexpr int kUnknown = 2;
constexpr int kInvalidArgument = 3;
constexpr int kPermissionDenied = 7;
constexpr int kResourceExhausted = 8;
constexpr int kFailedPrecondition = 9;
constexpr int kUnimplemented = 12;
constexpr int kInternal = 13;
constexpr int kUnavailable = 14;
constexpr int kDataLoss = 15;

bool ServerSideError(int code) {
  return code == kUnknown || code == kInternal || code == kDataLoss || code == kUnimplemented;
}

// A value of the text format needs quotes when it holds a space, a quote,
// an '=' or nothing at all.
bool NeedsQuotes(absl::string_view v) {
  return v.empty() || v.find_first_of(" \"=\\\t\n") != absl::string_view::npos;
}

}  // namespace

// The fields of one line: key=value pairs (text) or JSON members (json).
class FieldWriter {
 public:
  explicit FieldWriter(bool json) : json_(json) {}

  void Str(absl::string_view key, absl::string_view value) {
    Key(key);
    if (json_ || NeedsQuotes(value)) {
      out_ += '"';
      AppendJsonEscaped(value, &out_);
      out_ += '"';
    } else {
      out_.append(value.data(), value.size());
    }
  }
  void Num(absl::string_view key, uint64_t value) {
    Key(key);
    absl::StrAppend(&out_, value);
  }
  void Millis(absl::string_view key, uint64_t ns) {
    Key(key);
    char buf[32];
    snprintf(buf, sizeof(buf), "%.3f", static_cast<double>(ns) / 1e6);
    out_ += buf;
  }
  const std::string& text() const { return out_; }

 private:
  void Key(absl::string_view key) {
    if (!out_.empty()) out_ += json_ ? "," : " ";
    if (json_) {
      absl::StrAppend(&out_, "\"", key, "\":");
    } else {
      absl::StrAppend(&out_, key, "=");
    }
  }

  const bool json_;
  std::string out_;
};

absl::string_view RefusalReason(int code, absl::string_view message) {
  absl::string_view auth = AuthFailureReason(code, message);
  if (!auth.empty()) return auth;
  switch (code) {
    case kPermissionDenied: return "sandbox";
    case kInvalidArgument: return "invalid";
    case kResourceExhausted: return "limit";
    case kUnavailable: return "shutting_down";
    case kUnimplemented: return "unimplemented";
    case kFailedPrecondition:  // placement_check.cc: every message names the map
      return absl::StrContains(message, "placement map") ? "placement" : "";
    default: return "";
  }
}

RateLimiter::RateLimiter(double rate) {
  if (rate <= 0) return;
  interval_ns_ = std::max<uint64_t>(1, static_cast<uint64_t>(1e9 / rate));
  tolerance_ns_ = static_cast<uint64_t>((std::max(rate, 1.0) - 1) * static_cast<double>(interval_ns_));
}

bool RateLimiter::Allow(uint64_t now_ns, uint64_t* suppressed) {
  *suppressed = 0;
  if (interval_ns_ == 0) return true;
  uint64_t due = arrival_ns_.load(std::memory_order_relaxed);
  for (;;) {
    const uint64_t start = std::max(due, now_ns);
    if (start - now_ns > tolerance_ns_) {
      suppressed_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (arrival_ns_.compare_exchange_weak(due, start + interval_ns_,
                                          std::memory_order_relaxed)) {
      break;
    }
  }
  *suppressed = suppressed_.exchange(0, std::memory_order_relaxed);
  return true;
}

AccessLog::AccessLog(const AccessLogOptions& options, const TokenStore* tokens,
                     const PeerTable* peers, RpcMetrics* metrics)
    : options_(options),
      tokens_(tokens),
      peers_(peers),
      metrics_(metrics),
      info_rate_(options.lines_per_second),
      warn_rate_(options.lines_per_second) {}

void AccessLog::CallEnded(const CallFacts& f) {
  metrics_->CallEnded(f.method, f.code, static_cast<double>(f.end_ns - f.start_ns) * 1e-9);
  const MethodInfo& method = MethodTable()[f.method];
  const absl::string_view reason = f.code == kOk ? "" : RefusalReason(f.code, f.message);
  const absl::string_view auth = AuthFailureReason(f.code, f.message);
  if (!auth.empty()) metrics_->AuthFailed(auth);
  // A batch call that read its batch and ends with a refusal code before
  // sending any event refused that batch (a Session answers its refused
  // batches one by one, in BATCH_COMPLETE events: BatchRefused).
  const bool refused =
      method.batch_in && !reason.empty() && f.batches > 0 && f.messages_out == 0;
  if (refused) metrics_->BatchRefused(reason);
  spdlog::level::level_enum level = spdlog::level::info;
  if (!auth.empty() || refused || ServerSideError(f.code)) {
    level = spdlog::level::warn;
  } else if (method.quiet && f.code == kOk) {
    level = spdlog::level::debug;
  }
  Write(level, f, "call", f.code, reason, [&](FieldWriter& w) {
    w.Millis("duration_ms", f.end_ns - f.start_ns);
    w.Num("ops", f.ops);
    w.Num("batches", f.batches);
    w.Num("bytes_in", f.bytes_in);
    w.Num("bytes_out", f.bytes_out);
    if (f.failed_ops != 0) w.Num("failed_ops", f.failed_ops);
    if (f.refused_batches != 0) w.Num("refused_batches", f.refused_batches);
    if (f.code != kOk) w.Str("msg", f.message);
  });
}

void AccessLog::BatchRefused(const CallFacts& f, uint64_t tag, int code,
                             absl::string_view message) {
  const absl::string_view reason = RefusalReason(code, message);
  metrics_->BatchRefused(reason.empty() ? "other" : reason);
  const absl::string_view auth = AuthFailureReason(code, message);
  if (!auth.empty()) metrics_->AuthFailed(auth);
  Write(spdlog::level::warn, f, "batch_refused", code, reason, [&](FieldWriter& w) {
    w.Num("batch_tag", tag);
    w.Str("msg", message);
  });
}

void AccessLog::Write(spdlog::level::level_enum level, const CallFacts& f,
                      absl::string_view event, int code, absl::string_view reason,
                      const std::function<void(FieldWriter&)>& rest) {
  if (!options_.enabled) return;
  std::shared_ptr<spdlog::logger> logger = AccessLogger();
  if (!logger->should_log(level)) return;
  uint64_t suppressed = 0;
  RateLimiter& rate = level >= spdlog::level::warn ? warn_rate_ : info_rate_;
  if (!rate.Allow(MonotonicNs(), &suppressed)) {
    metrics_->LinesSuppressed(1);
    return;
  }
  FieldWriter w(LogIsJson());
  w.Str("event", event);
  const std::string peer = f.context == nullptr ? "unknown" : f.context->peer();
  w.Str("peer", peers_ == nullptr ? peer : peers_->Resolve(peer));
  w.Str("method", f.method_path);
  if (tokens_ != nullptr && f.context != nullptr) w.Str("token", tokens_->NameOf(*f.context));
  w.Str("code", CodeName(code));
  if (!reason.empty()) w.Str("reason", reason);
  rest(w);
  if (suppressed != 0) w.Num("suppressed", suppressed);
  logger->log(level, "{}", w.text());
}

}  // namespace overlapd
