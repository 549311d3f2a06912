// `overlap health`: asks the server's standard health service
// (grpc.health.v1.Health/Check) whether it serves. This is what the Docker
// HEALTHCHECK runs: it needs no token (the health service is open when the
// server has --tokens) and says NOT_SERVING while the server drains.
//
//   overlap health                               # the whole server ("")
//   overlap health --service overlapd.v1.IoService
//   overlap --json health                        # {"service":"","status":"SERVING"}
//
// Prints the status; exit status 0 for SERVING, 1 otherwise (NOT_SERVING,
// SERVICE_UNKNOWN, or no answer within --timeout seconds). Internal to
// clients/cpp; not a stable API.
#ifndef OVERLAPD_CLIENTS_CPP_COMMANDS_HEALTH_H_
#define OVERLAPD_CLIENTS_CPP_COMMANDS_HEALTH_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "clients/cpp/cli_common.h"

namespace CLI {
class App;
}  // namespace CLI

namespace overlapd {
namespace cli {

// The HealthCheckRequest{service} and the status name of a
// HealthCheckResponse, in protobuf's wire format (grpc/health/v1/health.proto
// is not among the Debian packages' headers).
std::string EncodeHealthRequest(const std::string& service);
absl::StatusOr<std::string> DecodeHealthStatus(const std::string& response);

class HealthCommand {
 public:
  HealthCommand(CLI::App& app, const GlobalOptions& global);
  HealthCommand(const HealthCommand&) = delete;
  HealthCommand& operator=(const HealthCommand&) = delete;

  // The status of `overlap health` when it was the command, else nullopt.
  std::optional<absl::Status> Run();

 private:
  const GlobalOptions& global_;
  CLI::App* command_ = nullptr;
  std::string service_;
  double timeout_s_ = 5;
};

}  // namespace cli
}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_COMMANDS_HEALTH_H_
