// Prometheus metrics of DESIGN.md. Families and label sets are created once
// at start; the IO path only touches the cached handles (atomics, and the
// histogram's own short lock).
#ifndef OVERLAPD_SERVICE_METRICS_H_
#define OVERLAPD_SERVICE_METRICS_H_

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ioengine/engine.h"
#include "service/event_log.h"
#include "service/http_server.h"
#include "service/rpc_metrics.h"

namespace overlapd {

enum class MetricResult : int { kOk, kError, kCancelled, kCount };
enum class StreamRpc : int { kExecute, kSession, kSubscribe, kCount };
// Why a node refused an op for placement (placement_check.h): the label
// of overlapd_redirects_total and Redirect.reason.
enum class RedirectReason : int { kOtherNode, kUnowned, kCrossNode, kCount };
const char* RedirectReasonName(RedirectReason reason);

class Metrics {
 public:
  // Builds the registry; with a non-empty `listen` also starts the HTTP
  // listener (http_server.h) with GET /metrics. `engine` is sampled at
  // scrape time for the per-worker gauges and the fd cache, and must outlive
  // the Metrics. `log`, when given, is sampled too (size, oldest seq).
  // Process metrics (process_metrics.h) are always exported; the root's
  // file system when `root_fd` >= 0.
  static absl::StatusOr<std::unique_ptr<Metrics>> Create(
      const std::string& listen, const io::Engine* engine,
      const EventLog* log = nullptr, const io::ReadCredit* read_budget = nullptr,
      int root_fd = -1);

  // overlapd_build_info{version,commit,engine} = 1, and
  // overlapd_engine_info{backend,fallback_reason} = 1 (fallback_reason is
  // empty unless --engine auto fell back from io_uring to threads).
  void SetBuildInfo(const std::string& engine, const std::string& fallback_reason);

  // One completed op: its count by result, its queue/service/total
  // latency, and the bytes it read or wrote (io::kOpTypes says which).
  void RecordOp(const io::Op& op);
  void AddBytesRead(uint64_t n) { bytes_read_->Increment(static_cast<double>(n)); }
  void AddBytesWritten(uint64_t n) {
    bytes_written_->Increment(static_cast<double>(n));
  }
  prometheus::Gauge& streams(StreamRpc rpc) {
    return *streams_[static_cast<int>(rpc)];
  }
  prometheus::Counter& events_lost() { return *events_lost_; }
  prometheus::Gauge& subscribers() { return *subscribers_; }
  prometheus::Counter& streams_cut() { return *streams_cut_; }
  prometheus::Gauge& jobs(int state) { return *jobs_[state]; }
  prometheus::Counter& redirects(RedirectReason reason) {
    return *redirects_[static_cast<int>(reason)];
  }
  // The version of the placement map in force (0 without --placement).
  prometheus::Gauge& placement_version() { return *placement_version_; }

  RpcMetrics& rpc() { return *rpc_; }

  std::shared_ptr<prometheus::Registry> registry() { return registry_; }
  // Every family in the text exposition format: what GET /metrics returns.
  std::string Scrape() const;
  // The HTTP listener, for more pages (the status page); null without one.
  HttpServer* http() { return http_.get(); }
  // The listener's TCP port (useful after listening on port 0), or 0.
  int port() const;
  // Stops the HTTP listener (waiting for requests in progress): before
  // what its pages read (the engine, the jobs) is destroyed.
  void StopHttp() { http_.reset(); }

 private:
  Metrics() = default;
  // The families of ops and bytes, and those of streams, jobs and events;
  // their handles cached in the fields below.
  void RegisterOpFamilies(prometheus::Registry& reg);
  void RegisterStreamFamilies(prometheus::Registry& reg);
  void RegisterPlacementFamilies(prometheus::Registry& reg);

  std::shared_ptr<prometheus::Registry> registry_;
  // What /metrics collects: the registry and the collectors sampled at
  // scrape time. Fixed once Create returns.
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  std::unique_ptr<RpcMetrics> rpc_;
  std::unique_ptr<HttpServer> http_;
  static constexpr int kOps = static_cast<int>(io::kOpTypeCount);
  static constexpr int kResults = static_cast<int>(MetricResult::kCount);
  std::array<std::array<prometheus::Counter*, kResults>, kOps> ops_{};
  // [op][phase]: phase 0 queue, 1 service, 2 total.
  std::array<std::array<prometheus::Histogram*, 3>, kOps> latency_{};
  prometheus::Counter* bytes_read_ = nullptr;
  prometheus::Counter* bytes_written_ = nullptr;
  void AddLaneBytes(prometheus::Registry& reg);
  // The part of those that went to or came from a shared buffer (the lane).
  prometheus::Counter* lane_bytes_read_ = nullptr;
  prometheus::Counter* lane_bytes_written_ = nullptr;
  std::array<prometheus::Gauge*, static_cast<int>(StreamRpc::kCount)> streams_{};
  std::array<prometheus::Gauge*, 6> jobs_{};  // by JobState value
  prometheus::Counter* events_lost_ = nullptr;
  prometheus::Gauge* subscribers_ = nullptr;
  prometheus::Counter* streams_cut_ = nullptr;
  std::array<prometheus::Counter*, static_cast<int>(RedirectReason::kCount)> redirects_{};
  prometheus::Gauge* placement_version_ = nullptr;
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_METRICS_H_
