#include "service/operations.h"

#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include "service/address.h"
#include "service/build_info.h"
#include "service/call_observer.h"
#include "service/logging.h"
#include "service/systemd_notify.h"

namespace overlapd {

const char* const kHealthServices[2] = {"", "overlapd.v1.IoService"};

void AddOperatorFlags(CLI::App& app, OperatorOptions& o) {
  app.set_version_flag("--version", VersionText(), "Print the version, commit and engines");
  app.add_option("--log-level", o.log_level, "Log level: trace, debug, info, warn, error, "
                 "critical, off (debug adds health checks to the access log)")
      ->check(CLI::IsMember(LogLevelNames()))
      ->capture_default_str();
  app.add_option("--log-format", o.log_format,
                 "Log lines on stderr as text or as one JSON object per line")
      ->check(CLI::IsMember(LogFormatNames()))
      ->capture_default_str();
  app.add_option_function<std::string>(
         "--access-log", [&o](const std::string& v) { o.access_log.enabled = v == "on"; },
         "One line per gRPC call (peer, method, token name, ops, code, duration, bytes) at "
         "info, refusals and auth failures at warn: on or off [on]")
      ->check(CLI::IsMember({"on", "off"}));
  app.add_option("--access-log-rate", o.access_log.lines_per_second,
                 "Most access-log lines per second and level (0: no limit); lines over it "
                 "are counted in overlapd_access_log_suppressed_total")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  app.add_option_function<std::string>(
         "--status-page", [&o](const std::string& v) { o.status_page = v == "on"; },
         "HTML status page at / and /status.json on --metrics-listen: on or off [on]")
      ->check(CLI::IsMember({"on", "off"}));
}

CLI::Validator GrpcListenCheck() {
  return CLI::Validator(
      [](std::string& v) {
        absl::Status s = CheckGrpcListen(v, "");
        return s.ok() ? std::string() : std::string(s.message());
      },
      "HOST:PORT");
}

CLI::Validator MetricsListenCheck() {
  return CLI::Validator(
      [](std::string& v) {
        if (v.empty()) return std::string();
        absl::Status s = ParseHostPort("", v).status();
        return s.ok() ? std::string() : std::string(s.message());
      },
      "HOST:PORT");
}

Operations::Operations(const OperatorOptions& options, Metrics* metrics,
                       const TokenStore* tokens)
    : options_(options), metrics_(metrics), tokens_(tokens) {}

void Operations::AttachTo(grpc::ServerBuilder& builder, const PeerTable* peers) {
  access_log_ = std::make_unique<AccessLog>(options_.access_log, tokens_, peers, &metrics_->rpc());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(std::make_unique<CallObserverFactory>(access_log_.get()));
  builder.experimental().SetInterceptorCreators(std::move(creators));
}

void Operations::Serving(grpc::Server& server, const StatusSources& sources,
                         const std::string& status) {
  // The default health service answers for "" only until told about more:
  // probes that name the service (Kubernetes grpc.service) need it too.
  if (grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService()) {
    for (const char* name : kHealthServices) health->SetServingStatus(name, true);
  }
  if (options_.status_page && metrics_->http() != nullptr) {
    AddStatusPage(*metrics_->http(), sources);
  }
  NotifyReady(status);
}

void Operations::Reloading() { NotifyReloading(); }

void Operations::Reloaded() { NotifyReady("serving; token file reloaded"); }

void Operations::Stopping(grpc::Server& server) {
  if (grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService()) {
    for (const char* name : kHealthServices) health->SetServingStatus(name, false);
  }
  NotifyStopping("draining calls in flight");
}

void Operations::Stopped() { metrics_->StopHttp(); }

}  // namespace overlapd
