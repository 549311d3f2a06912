#include "service/rpc_metrics.h"

#include <string>

#include "absl/synchronization/mutex.h"
#include "overlapd/v1/overlapd.pb.h"

namespace overlapd {
namespace {

template <typename T>
size_t BytesOf(const void* message) {
  return static_cast<const T*>(message)->ByteSizeLong();
}

// One row per method; the observer and the metrics index it.
constexpr MethodInfo kMethods[] = {
    {"/overlapd.v1.IoService/Execute", true, true, false, &BytesOf<v1::Batch>},
    {"/overlapd.v1.IoService/Session", true, true, false, &BytesOf<v1::Batch>},
    {"/overlapd.v1.IoService/Submit", true, false, false, &BytesOf<v1::Batch>},
    {"/overlapd.v1.IoService/Subscribe", false, false, false, &BytesOf<v1::SubscribeRequest>},
    {"/overlapd.v1.IoService/GetJob", false, false, false, &BytesOf<v1::GetJobRequest>},
    {"/overlapd.v1.IoService/CancelJob", false, false, false, &BytesOf<v1::CancelJobRequest>},
    {"/overlapd.v1.IoService/ListJobs", false, false, false, &BytesOf<v1::ListJobsRequest>},
    {"/overlapd.v1.IoService/GetCapabilities", false, false, false,
     &BytesOf<v1::GetCapabilitiesRequest>},
    {"/overlapd.v1.IoService/BeginUpload", false, false, false,
     &BytesOf<v1::BeginUploadRequest>},
    {"/overlapd.v1.IoService/GetPlacement", false, false, false,
     &BytesOf<v1::GetPlacementRequest>},
    {"/grpc.health.v1.Health/Check", false, false, true, nullptr},
    {"/grpc.health.v1.Health/Watch", false, false, true, nullptr},
    {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", false, false, true,
     nullptr},
    {"other", false, false, false, nullptr},
};
static_assert(sizeof(kMethods) / sizeof(kMethods[0]) == kMethodCount + 1);

constexpr const char* kCodeNames[] = {
    "OK",      "CANCELLED",          "UNKNOWN",        "INVALID_ARGUMENT",  "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS",   "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",  "UNIMPLEMENTED",     "INTERNAL",
    "UNAVAILABLE", "DATA_LOSS",      "UNAUTHENTICATED"};

// The metrics label of method `i`: its path without the leading slash.
std::string Label(int i) {
  absl::string_view path = kMethods[i].path;
  if (!path.empty() && path[0] == '/') path.remove_prefix(1);
  return std::string(path);
}

}  // namespace

const MethodInfo* MethodTable() { return kMethods; }

int MethodIndex(absl::string_view path) {
  for (int i = 0; i < kMethodCount; ++i) {
    if (path == kMethods[i].path) return i;
  }
  return kOtherMethod;
}

absl::string_view CodeName(int code) {
  return code >= 0 && code < 17 ? kCodeNames[code] : "UNKNOWN";
}

RpcMetrics::RpcMetrics(prometheus::Registry& registry)
    : calls_family_(prometheus::BuildCounter()
                        .Name("overlapd_rpcs_total")
                        .Help("gRPC calls ended, by method and status code")
                        .Register(registry)),
      duration_family_(prometheus::BuildHistogram()
                           .Name("overlapd_rpc_duration_seconds")
                           .Help("gRPC call duration, from the call's start to its status")
                           .Register(registry)),
      refused_family_(prometheus::BuildCounter()
                          .Name("overlapd_batches_refused_total")
                          .Help("Batches refused whole before any IO, by reason")
                          .Register(registry)),
      auth_family_(prometheus::BuildCounter()
                       .Name("overlapd_auth_failures_total")
                       .Help("Calls or batches refused for their bearer token, by reason")
                       .Register(registry)) {
  suppressed_ = &prometheus::BuildCounter()
                     .Name("overlapd_access_log_suppressed_total")
                     .Help("Access-log lines not written because of --access-log-rate")
                     .Register(registry)
                     .Add({});
  for (int m = 0; m < kMethodCount; ++m) Calls(m, 0);
}

prometheus::Counter& RpcMetrics::Calls(int method, int code) {
  if (code < 0 || code >= kCodes) code = kCodes;  // "UNKNOWN" below
  prometheus::Counter* c = calls_[method][code].load(std::memory_order_acquire);
  if (c != nullptr) return *c;
  absl::MutexLock lock(&mu_);
  c = &calls_family_.Add({{"method", Label(method)}, {"code", std::string(CodeName(code))}});
  calls_[method][code].store(c, std::memory_order_release);
  return *c;
}

prometheus::Histogram& RpcMetrics::Duration(int method) {
  prometheus::Histogram* h = durations_[method].load(std::memory_order_acquire);
  if (h != nullptr) return *h;
  // From a millisecond to an hour: unary calls take milliseconds, Sessions
  // and Subscribes last as long as their clients.
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600};
  absl::MutexLock lock(&mu_);
  h = &duration_family_.Add({{"method", Label(method)}}, kBuckets);
  durations_[method].store(h, std::memory_order_release);
  return *h;
}

prometheus::Counter& RpcMetrics::ByReason(prometheus::Family<prometheus::Counter>& family,
                                          absl::string_view reason) {
  // Refusals are rare next to calls: Family::Add (a hash and a lock) is
  // cheap enough here, and it returns the existing series.
  absl::MutexLock lock(&mu_);
  return family.Add({{"reason", std::string(reason)}});
}

void RpcMetrics::CallEnded(int method, int code, double seconds) {
  if (method < 0 || method > kOtherMethod) method = kOtherMethod;
  Calls(method, code).Increment();
  Duration(method).Observe(seconds);
}

void RpcMetrics::BatchRefused(absl::string_view reason) { ByReason(refused_family_, reason).Increment(); }

void RpcMetrics::AuthFailed(absl::string_view reason) { ByReason(auth_family_, reason).Increment(); }

}  // namespace overlapd
