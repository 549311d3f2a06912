// Per-RPC metrics, recorded by the call observer (call_observer.h) for
// every call the server answers:
//
//   overlapd_rpcs_total{method,code}           calls ended, by status code
//   overlapd_rpc_duration_seconds{method}      call duration (histogram)
//   overlapd_batches_refused_total{reason}     batches refused before any IO
//   overlapd_auth_failures_total{reason}       calls or batches refused for
//                                              their token
//   overlapd_access_log_suppressed_total       access-log lines over the rate
//
// `method` is the gRPC method without its leading slash
// ("overlapd.v1.IoService/Execute"; "other" for names outside the table
// below), `code` the canonical name ("OK", "NOT_FOUND", ...). Series are
// made on first use and their handles kept, so a call touches only atomics
// (and the histogram's short lock); {method, code="OK"} exists from the
// start for every method, so dashboards have data before the first error.
#ifndef OVERLAPD_SERVICE_RPC_METRICS_H_
#define OVERLAPD_SERVICE_RPC_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <cstddef>
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace overlapd {

// What the observer needs to know of a method.
struct MethodInfo {
  const char* path;          // "/overlapd.v1.IoService/Execute"
  bool batch_in;             // requests are v1::Batch (ops counted)
  bool events_out;           // responses are v1::EventBatch (scanned)
  bool quiet;                // health and reflection: access log at debug
  // ByteSizeLong of a request of this method, or null when its type is not
  // known here.
  size_t (*request_bytes)(const void* message);
};

// The methods overlapd serves; index kOtherMethod stands for any other.
const MethodInfo* MethodTable();
constexpr int kMethodCount = 13;
constexpr int kOtherMethod = kMethodCount;
// The index of `path` in the table, or kOtherMethod.
int MethodIndex(absl::string_view path);
// "OK", "INVALID_ARGUMENT", ... for a code 0..16; "UNKNOWN" otherwise.
absl::string_view CodeName(int code);

class RpcMetrics {
 public:
  explicit RpcMetrics(prometheus::Registry& registry);
  RpcMetrics(const RpcMetrics&) = delete;
  RpcMetrics& operator=(const RpcMetrics&) = delete;

  void CallEnded(int method, int code, double seconds);
  // `reason`: a RefusalReason (access_log.h).
  void BatchRefused(absl::string_view reason);
  void AuthFailed(absl::string_view reason);
  void LinesSuppressed(uint64_t n) { suppressed_->Increment(static_cast<double>(n)); }

 private:
  static constexpr int kCodes = 17;
  prometheus::Counter& Calls(int method, int code);
  prometheus::Histogram& Duration(int method);
  prometheus::Counter& ByReason(prometheus::Family<prometheus::Counter>& family,
                                absl::string_view reason);

  absl::Mutex mu_;  // serialises the creation of series
  prometheus::Family<prometheus::Counter>& calls_family_;
  prometheus::Family<prometheus::Histogram>& duration_family_;
  prometheus::Family<prometheus::Counter>& refused_family_;
  prometheus::Family<prometheus::Counter>& auth_family_;
  prometheus::Counter* suppressed_ = nullptr;
  std::array<std::array<std::atomic<prometheus::Counter*>, kCodes + 1>, kMethodCount + 1>
      calls_{};
  std::array<std::atomic<prometheus::Histogram*>, kMethodCount + 1> durations_{};
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_RPC_METRICS_H_
