#include "service/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <errno.h>

#include <exception>

#include "service/build_info.h"
#include "service/process_metrics.h"

namespace overlapd {

namespace {

constexpr const char* kResultNames[] = {"ok", "error", "cancelled"};
constexpr const char* kPhaseNames[] = {"queue", "service", "total"};
constexpr const char* kRpcNames[] = {"execute", "session", "subscribe"};
constexpr const char* kJobStateNames[] = {"unspecified", "queued",    "running",
                                          "succeeded",   "failed",    "cancelled"};

// Samples the engine's per-worker atomics when Prometheus scrapes, so the IO
// path never updates a gauge of its own for them.
class EngineGauges : public prometheus::Collectable {
 public:
  EngineGauges(const io::Engine* engine, const EventLog* log, const io::ReadCredit* budget)
      : engine_(engine), log_(log), budget_(budget) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily depth{"overlapd_engine_queue_depth",
                                   "IOs submitted to the kernel and not yet completed, per worker",
                                   prometheus::MetricType::Gauge, {}};
    prometheus::MetricFamily pending{"overlapd_engine_pending_ops",
                                     "Tasks accepted by a worker and not yet submitted",
                                     prometheus::MetricType::Gauge, {}};
    for (int i = 0; i < engine_->workers(); ++i) {
      const io::WorkerStats& s = engine_->worker_stats(i);
      prometheus::ClientMetric m;
      m.label = {{"worker", std::to_string(i)}};
      m.gauge.value = static_cast<double>(s.in_kernel.load(std::memory_order_relaxed));
      depth.metric.push_back(m);
      m.gauge.value = static_cast<double>(s.pending.load(std::memory_order_relaxed));
      pending.metric.push_back(m);
    }
    std::vector<prometheus::MetricFamily> families = {depth, pending};
    AddEngineLimits(&families);
    if (log_ != nullptr) {
      prometheus::ClientMetric m;
      m.gauge.value = static_cast<double>(log_->size());
      families.push_back({"overlapd_event_log_events", "Events held by the event log",
                          prometheus::MetricType::Gauge, {m}});
      m.gauge.value = static_cast<double>(log_->oldest_seq());
      families.push_back({"overlapd_event_log_oldest_seq",
                          "Seq of the oldest event a subscriber can still resume from",
                          prometheus::MetricType::Gauge, {m}});
    }
    // The server-wide memory budgets and what is in use of them.
    prometheus::MetricFamily used{"overlapd_memory_used_bytes",
                                  "Bytes in use of each server-wide memory budget",
                                  prometheus::MetricType::Gauge, {}};
    prometheus::MetricFamily limit{"overlapd_memory_budget_bytes",
                                   "Each server-wide memory budget (--max-read-buffer-bytes, "
                                   "--event-log-bytes)",
                                   prometheus::MetricType::Gauge, {}};
    auto add = [&](const char* part, uint64_t in_use, uint64_t budget) {
      prometheus::ClientMetric m;
      m.label = {{"part", part}};
      m.gauge.value = static_cast<double>(in_use);
      used.metric.push_back(m);
      m.gauge.value = static_cast<double>(budget);
      limit.metric.push_back(m);
    };
    if (budget_ != nullptr) add("read_buffers", budget_->in_use(), budget_->limit());
    if (log_ != nullptr) add("event_log", log_->bytes(), log_->max_bytes());
    families.push_back(used);
    families.push_back(limit);
    return families;
  }

 private:
  // The ring size per worker, and the open-file cache's lookups.
  void AddEngineLimits(std::vector<prometheus::MetricFamily>* families) const {
    prometheus::ClientMetric m;
    m.gauge.value = static_cast<double>(engine_->options().queue_depth);
    families->push_back({"overlapd_engine_queue_capacity",
                         "IOs each worker keeps in flight at most (--queue-depth)",
                         prometheus::MetricType::Gauge, {m}});
    const io::FdCacheStats fd = engine_->fd_cache_stats();
    prometheus::ClientMetric c;
    c.counter.value = static_cast<double>(fd.hits);
    families->push_back({"overlapd_fd_cache_hits_total",
                         "Reads served an open file from the fd cache",
                         prometheus::MetricType::Counter, {c}});
    c.counter.value = static_cast<double>(fd.misses);
    families->push_back({"overlapd_fd_cache_misses_total",
                         "Reads that found no usable cached file and opened it",
                         prometheus::MetricType::Counter, {c}});
    m.gauge.value = static_cast<double>(fd.entries);
    families->push_back({"overlapd_fd_cache_entries", "Open files held by the fd cache",
                         prometheus::MetricType::Gauge, {m}});
    m.gauge.value = static_cast<double>(fd.capacity);
    families->push_back({"overlapd_fd_cache_capacity",
                         "Open files the fd cache may hold (--fd-cache, capped)",
                         prometheus::MetricType::Gauge, {m}});
  }

  const io::Engine* engine_;
  const EventLog* log_;
  const io::ReadCredit* budget_;
};

}  // namespace

void Metrics::RegisterOpFamilies(prometheus::Registry& reg) {
  auto& ops = prometheus::BuildCounter()
                  .Name("overlapd_ops_total")
                  .Help("Completed operations by op type and result")
                  .Register(reg);
  // Latency from microseconds to tens of seconds, roughly x2.5 per bucket.
  const prometheus::Histogram::BucketBoundaries buckets = {
      10e-6, 25e-6, 50e-6,  100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3,
      25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0,    2.5,  5.0,    10.0};
  auto& latency = prometheus::BuildHistogram()
                      .Name("overlapd_op_latency_seconds")
                      .Help(
                          "Operation latency by phase: queue (accepted to started), "
                          "service (started to completed), total")
                      .Register(reg);
  for (int op = 0; op < kOps; ++op) {
    for (int r = 0; r < kResults; ++r) {
      ops_[op][r] =
          &ops.Add({{"op", std::string(io::kOpTypes[op].name)}, {"result", kResultNames[r]}});
    }
    for (int p = 0; p < 3; ++p) {
      latency_[op][p] = &latency.Add(
          {{"op", std::string(io::kOpTypes[op].name)}, {"phase", kPhaseNames[p]}}, buckets);
    }
  }
  auto& bytes = prometheus::BuildCounter()
                    .Name("overlapd_bytes_total")
                    .Help("File bytes read and written")
                    .Register(reg);
  bytes_read_ = &bytes.Add({{"direction", "read"}});
  bytes_written_ = &bytes.Add({{"direction", "write"}});
  AddLaneBytes(reg);
}

void Metrics::RegisterStreamFamilies(prometheus::Registry& reg) {
  auto& streams = prometheus::BuildGauge()
                      .Name("overlapd_streams")
                      .Help("Open streaming calls by RPC")
                      .Register(reg);
  for (int i = 0; i < static_cast<int>(StreamRpc::kCount); ++i) {
    streams_[i] = &streams.Add({{"rpc", kRpcNames[i]}});
  }
  auto& jobs =
      prometheus::BuildGauge().Name("overlapd_jobs").Help("Detached jobs by state").Register(reg);
  for (int i = 1; i < 6; ++i) jobs_[i] = &jobs.Add({{"state", kJobStateNames[i]}});
  events_lost_ = &prometheus::BuildCounter()
                      .Name("overlapd_events_lost_total")
                      .Help("Events a subscriber missed because it fell behind the event log")
                      .Register(reg)
                      .Add({});
  subscribers_ = &prometheus::BuildGauge()
                      .Name("overlapd_subscribers")
                      .Help("Open Subscribe streams")
                      .Register(reg)
                      .Add({});
  streams_cut_ = &prometheus::BuildCounter()
                      .Name("overlapd_streams_cut_total")
                      .Help("Streams cancelled because a write waited on the client for "
                            "over --write-stall-seconds")
                      .Register(reg)
                      .Add({});
}

const char* RedirectReasonName(RedirectReason reason) {
  static constexpr const char* kNames[] = {"other_node", "unowned", "cross_node"};
  return kNames[static_cast<int>(reason)];
}

void Metrics::RegisterPlacementFamilies(prometheus::Registry& reg) {
  auto& redirects = prometheus::BuildCounter()
                        .Name("overlapd_redirects_total")
                        .Help("Batches refused because a path belongs to another node "
                              "(other_node), to none (unowned), or to two (cross_node)")
                        .Register(reg);
  for (int i = 0; i < static_cast<int>(RedirectReason::kCount); ++i) {
    redirects_[i] = &redirects.Add({{"reason", RedirectReasonName(static_cast<RedirectReason>(i))}});
  }
  placement_version_ = &prometheus::BuildGauge()
                            .Name("overlapd_placement_version")
                            .Help("Version of the placement map in force (0: no --placement)")
                            .Register(reg)
                            .Add({});
}

absl::StatusOr<std::unique_ptr<Metrics>> Metrics::Create(const std::string& listen,
                                                         const io::Engine* engine,
                                                         const EventLog* log,
                                                         const io::ReadCredit* read_budget,
                                                         int root_fd) {
  std::unique_ptr<Metrics> m(new Metrics());
  m->registry_ = std::make_shared<prometheus::Registry>();
  auto& reg = *m->registry_;

  m->RegisterOpFamilies(reg);
  m->RegisterStreamFamilies(reg);
  m->RegisterPlacementFamilies(reg);
  m->rpc_ = std::make_unique<RpcMetrics>(reg);
  m->collectables_ = {m->registry_, std::make_shared<EngineGauges>(engine, log, read_budget),
                      std::make_shared<ProcessCollector>()};
  if (root_fd >= 0) m->collectables_.push_back(std::make_shared<RootFsCollector>(root_fd));
  if (!listen.empty()) {
    absl::StatusOr<std::unique_ptr<HttpServer>> http = HttpServer::Start(listen);
    if (!http.ok()) return http.status();
    m->http_ = *std::move(http);
    Metrics* self = m.get();
    m->http_->Handle("/metrics", [self] {
      return HttpReply{200, "text/plain; version=0.0.4; charset=utf-8", self->Scrape()};
    });
  }
  return m;
}

std::string Metrics::Scrape() const {
  std::vector<prometheus::MetricFamily> families;
  for (const auto& c : collectables_) {
    std::vector<prometheus::MetricFamily> more = c->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  return prometheus::TextSerializer().Serialize(families);
}

void Metrics::SetBuildInfo(const std::string& engine, const std::string& fallback_reason) {
  prometheus::BuildGauge()
      .Name("overlapd_build_info")
      .Help("1, labelled with the version and git commit overlapd was built from and the "
            "engine it runs")
      .Register(*registry_)
      .Add({{"version", std::string(BuildVersion())},
            {"commit", std::string(BuildCommit())},
            {"engine", engine}})
      .Set(1);
  prometheus::BuildGauge()
      .Name("overlapd_engine_info")
      .Help("1, labelled with the IO backend in use (uring or threads) and, when --engine "
            "auto fell back to threads, why io_uring could not start")
      .Register(*registry_)
      .Add({{"backend", engine}, {"fallback_reason", fallback_reason}})
      .Set(1);
}

int Metrics::port() const { return http_ == nullptr ? 0 : http_->port(); }

void Metrics::AddLaneBytes(prometheus::Registry& reg) {
  auto& lane_bytes = prometheus::BuildCounter()
                         .Name("overlapd_lane_bytes_total")
                         .Help("File bytes read into or written from shared buffers (the buffer "
                               "lane); also counted in overlapd_bytes_total")
                         .Register(reg);
  lane_bytes_read_ = &lane_bytes.Add({{"direction", "read"}});
  lane_bytes_written_ = &lane_bytes.Add({{"direction", "write"}});
}

void Metrics::RecordOp(const io::Op& op) {
  const int o = static_cast<int>(op.type);
  const MetricResult result = op.result == 0              ? MetricResult::kOk
                              : op.result == -ECANCELED ? MetricResult::kCancelled
                                                        : MetricResult::kError;
  ops_[o][static_cast<int>(result)]->Increment();
  latency_[o][0]->Observe(static_cast<double>(op.queued_ns) * 1e-9);
  latency_[o][1]->Observe(static_cast<double>(op.service_ns) * 1e-9);
  latency_[o][2]->Observe(static_cast<double>(op.queued_ns + op.service_ns) * 1e-9);
  const io::OpTypeInfo& info = io::TypeInfo(op.type);
  if (info.reads_file) AddBytesRead(op.bytes);
  if (info.writes_file) AddBytesWritten(op.bytes);
  if (op.buffer != nullptr) {
    (info.reads_file ? lane_bytes_read_ : lane_bytes_written_)
        ->Increment(static_cast<double>(op.bytes));
  }
}

}  // namespace overlapd
