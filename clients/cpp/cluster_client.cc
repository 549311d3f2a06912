#include "clients/cpp/cluster_client.h"

#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "ioengine/status_macros.h"
#include "overlapd/v1/status_detail.h"

namespace overlapd {

struct ClusterClient::Part {
  v1::PlacementNode node;
  v1::Batch batch;
  std::vector<uint32_t> index;  // op i of `batch` is op index[i] of the caller's batch
};

namespace {

// The path fields of an op ("copy.src", "copy.dst", ...), read from the
// message of its `kind` by reflection: every string field named path, src
// or dst is one.
std::vector<std::pair<std::string, std::string>> PathsOf(const v1::Op& op) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto* reflection = op.GetReflection();
  const auto* oneof = op.GetDescriptor()->FindOneofByName("kind");
  const auto* kind = reflection->GetOneofFieldDescriptor(op, oneof);
  if (kind == nullptr) return out;
  const google::protobuf::Message& m = reflection->GetMessage(op, kind);
  for (const char* name : {"path", "src", "dst"}) {
    const auto* field = m.GetDescriptor()->FindFieldByName(name);
    if (field == nullptr || field->type() != google::protobuf::FieldDescriptor::TYPE_STRING) {
      continue;
    }
    out.emplace_back(absl::StrCat(kind->name(), ".", name),
                     m.GetReflection()->GetString(m, field));
  }
  return out;
}

// Whether `e` ends its op.
bool EndsOp(const v1::Event& e) {
  return e.type() != v1::READ_CHUNK && e.type() != v1::BATCH_COMPLETE &&
         e.type() != v1::EVENTS_LOST && e.type() != v1::PROGRESS;
}

// The map of a node that runs alone (no --placement): it owns every path.
v1::Placement AloneAt(const std::string& address, v1::Placement served) {
  v1::Placement alone;
  v1::PlacementNode* node = alone.add_nodes();
  node->set_name(served.node().empty() ? address : served.node());
  node->set_address(address);
  node->add_prefixes("");
  return alone;
}

}  // namespace

std::vector<std::string> SplitAddresses(absl::string_view list) {
  std::vector<std::string> out;
  for (absl::string_view a : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    out.emplace_back(absl::StripAsciiWhitespace(a));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<ClusterClient>> ClusterClient::Connect(
    const std::vector<std::string>& seeds, const ConnectOptions& options) {
  if (seeds.empty()) {
    return absl::InvalidArgumentError("cluster: at least one node address is required");
  }
  // Checks the options (TLS files) once; every later channel uses the same.
  OVERLAPD_RETURN_IF_ERROR(Client::OpenChannel(seeds[0], options).status());
  std::unique_ptr<ClusterClient> cluster(new ClusterClient(seeds, options));
  OVERLAPD_RETURN_IF_ERROR(cluster->Refresh());
  return cluster;
}

v1::Placement ClusterClient::placement() const {
  absl::MutexLock lock(&mu_);
  return map_->proto();
}

uint64_t ClusterClient::version() const {
  absl::MutexLock lock(&mu_);
  return map_ == nullptr ? 0 : map_->version();
}

std::shared_ptr<grpc::Channel> ClusterClient::ChannelTo(const std::string& address) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<grpc::Channel>& channel = channels_[address];
  if (channel == nullptr) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> opened = Client::OpenChannel(address, options_);
    // Connect checked the options with the first channel; they do not change.
    if (opened.ok()) channel = *std::move(opened);
  }
  return channel;
}

std::unique_ptr<Client> ClusterClient::ClientAt(const std::string& address) {
  auto client = std::make_unique<Client>(ChannelTo(address));
  client->set_lane(Client::LaneMode::kOff, options_.token);
  return client;
}

absl::StatusOr<v1::Placement> ClusterClient::FetchFrom(const std::string& address) {
  absl::StatusOr<v1::Placement> served = ClientAt(address)->GetPlacement();
  if (!served.ok() || served->version() != 0) return served;
  return AloneAt(address, *std::move(served));
}

absl::Status ClusterClient::Refresh(const std::string& first) {
  std::vector<std::string> candidates;
  if (!first.empty()) candidates.push_back(first);
  candidates.insert(candidates.end(), seeds_.begin(), seeds_.end());
  {
    absl::MutexLock lock(&mu_);
    if (map_ != nullptr) {
      for (const auto& node : map_->proto().nodes()) candidates.push_back(node.address());
    }
  }
  absl::Status last = absl::UnavailableError("no node to ask");
  bool answered = false;
  for (const std::string& address : candidates) {
    absl::StatusOr<v1::Placement> served = FetchFrom(address);
    if (!served.ok()) {
      last = absl::Status(served.status().code(),
                          absl::StrCat(address, ": ", served.status().message()));
      continue;
    }
    OVERLAPD_ASSIGN_OR_RETURN(PlacementMap map,
                              PlacementMap::FromProto(*std::move(served), "GetPlacement " + address));
    absl::MutexLock lock(&mu_);
    answered = true;
    if (map_ == nullptr || map.version() > map_->version()) {
      map_ = std::make_shared<const PlacementMap>(std::move(map));
      return absl::OkStatus();
    }
    // A plain refresh takes the first answer; after a redirect, a newer map
    // is looked for on every node.
    if (first.empty()) return absl::OkStatus();
  }
  if (answered) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat("no node of the cluster answered GetPlacement; last: ", last.message()));
}

absl::StatusOr<v1::PlacementNode> ClusterClient::OwnerOf(absl::string_view path) const {
  absl::MutexLock lock(&mu_);
  const v1::PlacementNode* owner = map_->OwnerOf(path);
  if (owner != nullptr) return *owner;
  return absl::FailedPreconditionError(
      absl::StrCat("\"", path, "\" lies under no prefix of the placement map (version ",
                   map_->version(), "): no node of the cluster serves it"));
}

absl::StatusOr<std::unique_ptr<Client>> ClusterClient::ClientFor(absl::string_view path) {
  OVERLAPD_ASSIGN_OR_RETURN(v1::PlacementNode owner, OwnerOf(path));
  return ClientAt(owner.address());
}

absl::StatusOr<std::vector<ClusterClient::Part>> ClusterClient::Split(
    const v1::Batch& batch, const std::vector<uint32_t>& index) const {
  std::shared_ptr<const PlacementMap> map;
  {
    absl::MutexLock lock(&mu_);
    map = map_;
  }
  v1::Batch shell = batch;
  shell.clear_ops();
  std::vector<Part> parts;
  std::map<std::string, size_t> part_of;
  for (int i = 0; i < batch.ops_size();) {
    int end = i;  // the chain is ops i..end
    while (end + 1 < batch.ops_size() && batch.ops(end).link_next()) ++end;
    const v1::PlacementNode* owner = &map->proto().nodes(0);  // an op without paths: any node refuses it
    std::string owner_field;
    for (int k = i; k <= end; ++k) {
      for (const auto& [field, path] : PathsOf(batch.ops(k))) {
        const std::string at = absl::StrCat("ops[", index[k], "].", field, " \"", path, "\"");
        const v1::PlacementNode* o = map->OwnerOf(path);
        if (o == nullptr) {
          return absl::FailedPreconditionError(absl::StrCat(
              at, " lies under no prefix of the placement map (version ", map->version(),
              "): no node of the cluster serves it"));
        }
        if (!owner_field.empty() && o != owner) {
          return absl::FailedPreconditionError(absl::StrCat(
              owner_field, " is on node ", owner->name(), " and ", at, " on node ", o->name(),
              " (placement map version ", map->version(),
              "): a copy, rename or linked chain never crosses nodes"));
        }
        owner = o;
        owner_field = at;
      }
    }
    auto [it, added] = part_of.emplace(owner->name(), parts.size());
    if (added) parts.push_back(Part{*owner, shell, {}});
    Part& part = parts[it->second];
    for (int k = i; k <= end; ++k) {
      *part.batch.add_ops() = batch.ops(k);
      part.index.push_back(index[k]);
    }
    i = end + 1;
  }
  return parts;
}

absl::Status ClusterClient::Execute(const v1::Batch& batch, const EventFn& on_event) {
  std::vector<uint32_t> index(batch.ops_size());
  for (uint32_t i = 0; i < index.size(); ++i) index[i] = i;
  OVERLAPD_ASSIGN_OR_RETURN(std::vector<Part> parts, Split(batch, index));
  absl::Mutex deliver_mu;
  const EventFn deliver = [&](const v1::Event& e) {
    absl::MutexLock lock(&deliver_mu);
    on_event(e);
  };
  OVERLAPD_RETURN_IF_ERROR(RunParts(std::move(parts), /*follow=*/true, deliver));
  v1::Event done;
  done.set_type(v1::BATCH_COMPLETE);
  done.set_tag(batch.tag());
  done.set_count(static_cast<uint32_t>(batch.ops_size()));
  deliver(done);
  return absl::OkStatus();
}

absl::Status ClusterClient::RunParts(std::vector<Part> parts, bool follow,
                                     const EventFn& deliver) {
  std::vector<absl::Status> results(parts.size());
  std::vector<std::thread> threads;
  for (size_t i = 1; i < parts.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = RunPart(std::move(parts[i]), follow, deliver); });
  }
  if (!parts.empty()) results[0] = RunPart(std::move(parts[0]), follow, deliver);
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : results) OVERLAPD_RETURN_IF_ERROR(s);
  return absl::OkStatus();
}

absl::Status ClusterClient::RunPart(Part part, bool follow, const EventFn& deliver) {
  std::vector<bool> ended(part.batch.ops_size());
  bool any = false;
  absl::Status status = ClientAt(part.node.address())->Execute(part.batch, [&](const v1::Event& e) {
    if (e.type() == v1::BATCH_COMPLETE) return;
    any = true;
    v1::Event out = e;
    if (e.op_index() < part.index.size()) {
      if (EndsOp(e)) ended[e.op_index()] = true;
      out.set_op_index(part.index[e.op_index()]);
    }
    deliver(out);
  });
  if (status.ok()) return status;
  if (RedirectOf(status).has_value() && follow && !any) {
    // Refused before any IO: the map changed; ask the refusing node for its map.
    OVERLAPD_RETURN_IF_ERROR(Refresh(part.node.address()));
    OVERLAPD_ASSIGN_OR_RETURN(std::vector<Part> again, Split(part.batch, part.index));
    return RunParts(std::move(again), /*follow=*/false, deliver);
  }
  if (status.code() != absl::StatusCode::kUnavailable) return status;
  for (size_t i = 0; i < ended.size(); ++i) {
    if (ended[i]) continue;
    v1::Event failed;
    failed.set_type(v1::OP_FAILED);
    failed.set_tag(part.batch.ops(static_cast<int>(i)).tag());
    failed.set_op_index(part.index[i]);
    failed.mutable_error()->set_code(static_cast<int>(absl::StatusCode::kUnavailable));
    failed.mutable_error()->set_message(absl::StrCat("node ", part.node.name(), " at ",
                                                     part.node.address(),
                                                     " is unavailable: ", status.message()));
    const auto paths = PathsOf(part.batch.ops(static_cast<int>(i)));
    if (!paths.empty()) failed.set_path(paths[0].second);
    deliver(failed);
  }
  return absl::OkStatus();
}

std::vector<NodeStatus> ClusterClient::Nodes() {
  std::vector<NodeStatus> out;
  const v1::Placement map = placement();  // a copy: Refresh may replace the map
  for (const v1::PlacementNode& node : map.nodes()) {
    NodeStatus s{node, absl::OkStatus(), 0, ""};
    std::unique_ptr<Client> client = ClientAt(node.address());
    absl::StatusOr<v1::Placement> served = client->GetPlacement();
    s.health = served.status();
    if (served.ok()) s.map_version = served->version();
    absl::StatusOr<v1::Capabilities> caps = served.ok() ? client->Capabilities() : served.status();
    if (caps.ok()) s.server_version = caps->server_version();
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace overlapd
