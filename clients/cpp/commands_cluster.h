// The `overlap` CLI and a cluster of nodes (--cluster ADDR[,ADDR...] or
// $OVERLAPD_CLUSTER): `overlap nodes` shows the placement map and each
// node's health, and every other command goes to the node that owns the
// first of its arguments the map places (ClusterClient).
//
//   overlap --cluster n0:50051,n1:50051 nodes
//   overlap --cluster n0:50051 put big.iso beta/big.iso   # sent to beta's owner
//
// Internal to clients/cpp; not a stable API.
#ifndef OVERLAPD_CLIENTS_CPP_COMMANDS_CLUSTER_H_
#define OVERLAPD_CLIENTS_CPP_COMMANDS_CLUSTER_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "clients/cpp/cli_common.h"
#include "clients/cpp/cluster_client.h"

namespace CLI {
class App;
}  // namespace CLI

namespace overlapd {
namespace cli {

class NodesCommand {
 public:
  NodesCommand(CLI::App& app, const GlobalOptions& global);
  NodesCommand(const NodesCommand&) = delete;
  NodesCommand& operator=(const NodesCommand&) = delete;

  // The status of `overlap nodes` when it was the command, else nullopt.
  // Exit status 1 when a node does not answer.
  std::optional<absl::Status> Run();

 private:
  const GlobalOptions& global_;
  CLI::App* command_ = nullptr;
};

// The address of the node that owns the first positional argument of the
// parsed command that the map places; the first seed when none does. A
// command whose arguments are all remote paths, each its own op (cat, stat,
// rm, ...), and lie on two nodes is refused (INVALID_ARGUMENT) before any
// call: one command runs on one node.
absl::StatusOr<std::string> RouteCommand(const CLI::App& app, const ClusterClient& cluster,
                                         const std::string& fallback);

}  // namespace cli
}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_COMMANDS_CLUSTER_H_
