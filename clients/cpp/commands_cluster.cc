#include "clients/cpp/commands_cluster.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace overlapd {
namespace cli {
namespace {

// The positional values of the parsed command, outermost command first.
void PositionalsOf(const CLI::App& app, std::vector<std::string>* out) {
  for (const CLI::Option* option : app.get_options()) {
    if (!option->get_positional()) continue;
    for (const std::string& value : option->results()) out->push_back(value);
  }
  for (const CLI::App* sub : app.get_subcommands()) PositionalsOf(*sub, out);
}

// Whether every positional of the parsed command is a remote path, each its
// own op (cp and mv are one op of two paths: the node explains its refusal,
// "a copy or rename never crosses nodes").
bool AllRemote(const CLI::App& app) {
  static const std::set<std::string> kRemoteOnly = {"cat", "stat",  "ls",    "du",
                                                   "read", "rm", "mkdir", "backup"};
  for (const CLI::App* sub : app.get_subcommands()) {
    if (kRemoteOnly.count(sub->get_name()) != 0) return true;
  }
  return false;
}

}  // namespace

NodesCommand::NodesCommand(CLI::App& app, const GlobalOptions& global) : global_(global) {
  command_ = AddCommand(
      app, "nodes", "Show the cluster's placement map and each node's health",
      "Fetches the placement map from the first node of --cluster (or\n"
      "$OVERLAPD_CLUSTER, else --server) that answers, then asks every node of\n"
      "the map. Prints one line per node: NAME ADDRESS HEALTH MAP_VERSION\n"
      "PREFIXES (HEALTH is SERVING or the error code); --json: one object per\n"
      "node. Exit status 1 when a node does not answer.");
}

std::optional<absl::Status> NodesCommand::Run() {
  if (!command_->parsed()) return std::nullopt;
  const std::string seeds = global_.cluster.empty() ? global_.server : global_.cluster;
  absl::StatusOr<std::unique_ptr<ClusterClient>> cluster =
      ClusterClient::Connect(SplitAddresses(seeds), global_.connect);
  if (!cluster.ok()) return cluster.status();
  if (!global_.json) std::printf("placement map version %lu\n", (*cluster)->version());
  absl::Status first_down;
  for (const NodeStatus& n : (*cluster)->Nodes()) {
    const std::string health =
        n.health.ok() ? "SERVING" : absl::StatusCodeToString(n.health.code());
    if (!n.health.ok() && first_down.ok()) {
      first_down = absl::Status(n.health.code(), absl::StrCat("node ", n.node.name(), " at ",
                                                              n.node.address(), ": ",
                                                              n.health.message()));
    }
    std::vector<std::string> prefixes(n.node.prefixes().begin(), n.node.prefixes().end());
    if (global_.json) {
      PrintJson({{"name", n.node.name()}, {"address", n.node.address()}, {"health", health},
                 {"map_version", std::to_string(n.map_version)}, {"prefixes", prefixes},
                 {"server_version", n.server_version}});
    } else {
      std::vector<std::string> shown;  // "" (everything) shown as such
      for (const std::string& p : prefixes) shown.push_back(p.empty() ? "\"\"" : p);
      std::printf("%s %s %s %lu %s\n", EscapeName(n.node.name()).c_str(),
                  EscapeName(n.node.address()).c_str(), health.c_str(), n.map_version,
                  EscapeName(absl::StrJoin(shown, ",")).c_str());
    }
  }
  return first_down;
}

absl::StatusOr<std::string> RouteCommand(const CLI::App& app, const ClusterClient& cluster,
                                         const std::string& fallback) {
  std::vector<std::string> values;
  PositionalsOf(app, &values);
  const bool all_remote = AllRemote(app);
  std::optional<v1::PlacementNode> first;
  std::string first_path;
  for (const std::string& value : values) {
    absl::StatusOr<v1::PlacementNode> owner = cluster.OwnerOf(value);
    if (!owner.ok()) continue;
    if (!first.has_value()) {
      first = *owner;
      first_path = value;
      if (!all_remote) break;  // a local path may match a prefix by chance
    } else if (owner->name() != first->name()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", first_path, "\" is on node ", first->name(), " and \"", value, "\" on node ",
          owner->name(), " (placement map version ", cluster.version(),
          "): one command runs on one node; run one per node"));
    }
  }
  return first.has_value() ? first->address() : fallback;
}

}  // namespace cli
}  // namespace overlapd
