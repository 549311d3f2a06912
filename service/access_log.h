// The access log: one line per gRPC call, written when its status is sent,
// plus one line per batch a Session refused (the call itself goes on).
//
//   info  access event=call peer=ipv4:127.0.0.1:40112 method=/overlapd.v1.IoService/Execute
//         token=loader code=OK duration_ms=0.912 ops=3 batches=1 bytes_in=4210 bytes_out=8390
//   warn  access event=call peer=... method=/overlapd.v1.IoService/Execute token=unknown
//         code=UNAUTHENTICATED reason=unknown_token duration_ms=0.050 ... msg="unknown bearer token"
//   warn  access event=batch_refused peer=... method=/overlapd.v1.IoService/Session
//         token=loader code=PERMISSION_DENIED reason=prefix batch_tag=7
//         msg="ops[0].read.path: \"secret/x\" is outside the token's prefix \"pub/\""
//
// (--log-format json writes the same fields as JSON members.) Fields:
// peer (gRPC's spelling; see peer_table.h), method, token (its name, never
// the token: auth.h), code, reason (why a call or batch was refused:
// RefusalReason), duration_ms (from the call's start to its status), ops
// and batches (received), bytes_in and bytes_out (protobuf bytes of the
// messages received and sent), failed_ops (OP_FAILED events sent),
// refused_batches, msg (the status message of a failed call), suppressed
// (lines of that level dropped by the rate limit since the last one
// written).
//
// Levels: refusals, authentication failures and server-side errors
// (UNKNOWN, INTERNAL, DATA_LOSS, UNIMPLEMENTED) at warn; other calls at
// info; health checks and reflection at debug.
//
// Rate: each level gets --access-log-rate lines a second (a token bucket
// with a burst of as many), so that a flood of calls or of bad tokens cannot
// fill the disk; lines over the rate are counted in
// overlapd_access_log_suppressed_total and in the next line's suppressed=.
// Metrics (rpc_metrics.h) count every call whether or not its line is
// written.
//
// Threads: CallEnded and BatchRefused are called from gRPC threads and
// engine workers at once; the rate limiters are the only shared state
// (lock-free).
#ifndef OVERLAPD_SERVICE_ACCESS_LOG_H_
#define OVERLAPD_SERVICE_ACCESS_LOG_H_

#include <grpcpp/server_context.h>

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include "absl/strings/string_view.h"

#include "service/auth.h"
#include "service/peer_table.h"
#include "service/rpc_metrics.h"

namespace overlapd {

struct AccessLogOptions {
  bool enabled = true;       // --access-log on|off (metrics are kept either way)
  double lines_per_second = 100;  // per level; 0: no limit
};

// Why a call or batch was refused, for the reason= field and the
// metrics: an AuthFailureReason ("missing_token", "malformed_token",
// "unknown_token", "scope", "prefix"), or "sandbox" (PERMISSION_DENIED for
// a path), "invalid" (INVALID_ARGUMENT), "limit" (RESOURCE_EXHAUSTED),
// "shutting_down" (UNAVAILABLE), "unimplemented", "placement" (a cluster
// node's redirect: FAILED_PRECONDITION naming the placement map); "" for
// other codes.
absl::string_view RefusalReason(int code, absl::string_view message);

// A token bucket: `rate` events a second, bursts of up to `rate`, kept as
// one "theoretical arrival time" (GCRA): an event fits while that time is
// at most a burst ahead of now. Lock-free: a refusal, the common case under
// a flood, only reads it. Thread-safe.
class RateLimiter {
 public:
  explicit RateLimiter(double rate);
  // Whether an event at `now_ns` fits; when it does, `*suppressed` gets the
  // events refused since the last one that fitted.
  bool Allow(uint64_t now_ns, uint64_t* suppressed);

 private:
  uint64_t interval_ns_ = 0;   // between two events at the rate; 0: no limit
  uint64_t tolerance_ns_ = 0;  // how far ahead of now the burst may reach
  std::atomic<uint64_t> arrival_ns_{0};  // when the next event is due
  std::atomic<uint64_t> suppressed_{0};
};

// What the call observer knows of a call when it ends (or when a batch of
// a Session is refused).
struct CallFacts {
  int method = kOtherMethod;               // MethodIndex
  absl::string_view method_path;            // "/overlapd.v1.IoService/Execute"
  grpc::ServerContextBase* context = nullptr;  // valid for the duration of the call
  int code = 0;
  absl::string_view message;
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  uint64_t ops = 0;
  uint64_t batches = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t messages_out = 0;
  uint64_t failed_ops = 0;
  uint64_t refused_batches = 0;
};

class FieldWriter;  // access_log.cc

class AccessLog {
 public:
  // `tokens` (null: no --tokens) names the tokens; `peers` (null: gRPC's
  // own listener) resolves the peers of overlapd's listener; `metrics`
  // counts calls, refusals and suppressed lines. All must outlive this.
  AccessLog(const AccessLogOptions& options, const TokenStore* tokens, const PeerTable* peers,
            RpcMetrics* metrics);

  // The call ended with facts.code: records the metrics, writes its line.
  void CallEnded(const CallFacts& facts);
  // A Session answered the batch `tag` with an error instead of running it.
  void BatchRefused(const CallFacts& facts, uint64_t tag, int code, absl::string_view message);

 private:
  // Writes one line at `level` (unless the level is off or over its rate):
  // event, peer, method, token, code and reason, then what `rest` adds.
  void Write(spdlog::level::level_enum level, const CallFacts& facts, absl::string_view event,
             int code, absl::string_view reason, const std::function<void(FieldWriter&)>& rest);

  const AccessLogOptions options_;
  const TokenStore* const tokens_;
  const PeerTable* const peers_;
  RpcMetrics* const metrics_;
  RateLimiter info_rate_;
  RateLimiter warn_rate_;
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_ACCESS_LOG_H_
