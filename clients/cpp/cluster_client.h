// overlapd::ClusterClient: one client for a cluster of overlapd nodes that
// share a placement map (--placement on every node; see
// proto/overlapd/v1/placement_map.h for how a path finds its owner).
//
// It fetches the map from any node it is given, sends each op to the node
// that owns its paths, splits a batch per node (a link_next chain stays
// whole) and merges the events, with the tags and op indexes of the batch
// as given. When a node answers with a placement redirect (the map changed
// under the client), it fetches the newer map (from the redirecting node
// first) and sends that part again, once: a refused batch ran no IO, so
// nothing is done twice. A node that is down fails its own ops with
// UNAVAILABLE; nothing is ever sent to another node in its place.
//
// Example:
//
//   auto cluster = overlapd::ClusterClient::Connect({"node-a:50051", "node-b:50051"});
//   if (!cluster.ok()) return cluster.status();
//   v1::Batch batch;  // ops on alpha/..., beta/..., gamma/...
//   absl::Status s = (*cluster)->Execute(batch, [](const v1::Event& e) { ... });
//   absl::StatusOr<std::unique_ptr<Client>> owner = (*cluster)->ClientFor("alpha/x");
//
// Thread-safe; Execute's callback runs on one thread at a time (the parts'
// threads take turns).
#ifndef OVERLAPD_CLIENTS_CPP_CLUSTER_CLIENT_H_
#define OVERLAPD_CLIENTS_CPP_CLUSTER_CLIENT_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "clients/cpp/client.h"
#include "overlapd/v1/placement_map.h"

namespace overlapd {

// One node of the map and what it answered to a health probe.
struct NodeStatus {
  v1::PlacementNode node;
  absl::Status health;         // OK, or why GetPlacement failed (UNAVAILABLE: down)
  uint64_t map_version = 0;    // the version the node serves
  std::string server_version;  // GetCapabilities.server_version
};

class ClusterClient {
 public:
  // Fetches the map from the first of `seeds` ("host:port") that answers.
  // A node without --placement serves version 0: the cluster is that one
  // node, owning every path.
  static absl::StatusOr<std::unique_ptr<ClusterClient>> Connect(
      const std::vector<std::string>& seeds, const ConnectOptions& options = {});

  // The map in use (a copy: Refresh may replace it).
  v1::Placement placement() const;
  uint64_t version() const;

  // Asks `first` (when given), then the seeds and the nodes of the map, for
  // their map, and keeps the newest version seen (never an older one).
  absl::Status Refresh(const std::string& first = "");

  // The node that owns `path`, or FAILED_PRECONDITION when no prefix of the
  // map matches it.
  absl::StatusOr<v1::PlacementNode> OwnerOf(absl::string_view path) const;

  // A Client for the node that owns `path` (on a channel shared with the
  // other Clients of that node).
  absl::StatusOr<std::unique_ptr<Client>> ClientFor(absl::string_view path);
  std::unique_ptr<Client> ClientAt(const std::string& address);

  // Runs `batch` over the nodes that own its ops, each part as one Execute
  // on its node, the parts at once. `on_event` sees every event but the
  // parts' BATCH_COMPLETE, then one BATCH_COMPLETE for the whole batch
  // (count: its ops). Refused before any call (FAILED_PRECONDITION): an op
  // with a path no node owns, a Copy or Rename across two nodes, a chain
  // whose ops lie on two nodes. A node that is down or breaks off: each of
  // its ops without a terminal event gets an OP_FAILED with UNAVAILABLE
  // naming the node, and the call returns OK (as Client::Execute does for
  // failed ops). A part a node refuses otherwise: that status, once every
  // part has ended.
  absl::Status Execute(const v1::Batch& batch, const EventFn& on_event);

  // Every node of the map with its health, in map order.
  std::vector<NodeStatus> Nodes();

 private:
  struct Part;
  ClusterClient(std::vector<std::string> seeds, ConnectOptions options)
      : seeds_(std::move(seeds)), options_(std::move(options)) {}

  // Groups the ops of `batch` (whose op i is op `index[i]` of the caller's
  // batch) by owner.
  absl::StatusOr<std::vector<Part>> Split(const v1::Batch& batch,
                                          const std::vector<uint32_t>& index) const;
  absl::Status RunParts(std::vector<Part> parts, bool follow, const EventFn& deliver);
  absl::Status RunPart(Part part, bool follow, const EventFn& deliver);
  std::shared_ptr<grpc::Channel> ChannelTo(const std::string& address);
  absl::StatusOr<v1::Placement> FetchFrom(const std::string& address);

  const std::vector<std::string> seeds_;
  const ConnectOptions options_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const PlacementMap> map_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_ ABSL_GUARDED_BY(mu_);
};

// "a:1,b:2" (the --cluster flag, $OVERLAPD_CLUSTER) as addresses.
std::vector<std::string> SplitAddresses(absl::string_view list);

}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_CLUSTER_CLIENT_H_
