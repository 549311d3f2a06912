// What overlapd offers operators beside the gRPC service, wired in one
// place so that main.cc only calls it: the flags of logging, the access
// log and the status page; the call observer (access log and per-RPC
// metrics); the health statuses; the status page; systemd notifications.
//
// Example (main.cc):
//
//   OperatorOptions ops;  AddOperatorFlags(app, ops);   // before parsing
//   ... ConfigureLogging(ops.log_level, ops.log_format) after parsing ...
//   Operations operations(ops, metrics, tokens);
//   operations.AttachTo(builder, listener ? &listener->peers() : nullptr);
//   server = builder.BuildAndStart();
//   operations.Serving(*server, {&jobs, &log, engine, tokens != nullptr}, "...");
//   ... SIGHUP: operations.Reloading(); ...; operations.Reloaded();
//   operations.Stopping(*server);      // SIGTERM, before the drain
//   operations.Stopped();              // after the drain, before the engine goes
#ifndef OVERLAPD_SERVICE_OPERATIONS_H_
#define OVERLAPD_SERVICE_OPERATIONS_H_

#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "service/access_log.h"
#include "service/metrics.h"
#include "service/status_page.h"

namespace overlapd {

struct OperatorOptions {
  std::string log_level = "info";
  std::string log_format = "text";
  AccessLogOptions access_log;
  bool status_page = true;
};

// Adds --log-level, --log-format, --access-log, --access-log-rate,
// --status-page and --version to `app`.
void AddOperatorFlags(CLI::App& app, OperatorOptions& options);

// CLI11 checks of --listen (HOST:PORT, [V6]:PORT or unix:PATH) and
// --metrics-listen (HOST:PORT, [V6]:PORT, or empty for none); address.h.
CLI::Validator GrpcListenCheck();
CLI::Validator MetricsListenCheck();

// The gRPC service names the health service reports SERVING for while
// overlapd serves: "" (the whole server) and "overlapd.v1.IoService".
extern const char* const kHealthServices[2];

class Operations {
 public:
  // `metrics` and `tokens` (null: no --tokens) must outlive this.
  Operations(const OperatorOptions& options, Metrics* metrics, const TokenStore* tokens);

  // Installs the call observer (access log, per-RPC metrics) on `builder`.
  // `peers`: the client addresses of overlapd's own listener, or null.
  void AttachTo(grpc::ServerBuilder& builder, const PeerTable* peers);
  // The server is up: health SERVING for kHealthServices, the status page
  // on the metrics listener, READY=1 to systemd with `status`.
  void Serving(grpc::Server& server, const StatusSources& sources, const std::string& status);
  void Reloading();
  void Reloaded();
  // SIGTERM: health NOT_SERVING (load balancers and probes stop sending
  // calls), STOPPING=1 to systemd.
  void Stopping(grpc::Server& server);
  // The drain is over: stops the metrics listener before the engine and
  // the jobs it reads from are destroyed.
  void Stopped();

 private:
  const OperatorOptions options_;
  Metrics* const metrics_;
  const TokenStore* const tokens_;
  std::unique_ptr<AccessLog> access_log_;
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_OPERATIONS_H_
