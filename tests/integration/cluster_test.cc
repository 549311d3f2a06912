// Three real overlapd nodes on loopback sharing one placement map, and the
// cluster clients: routing by owner, redirects, a map change under a
// writing client, a stopped node, cross-node copies, and `overlap nodes`.
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "clients/cpp/cluster_client.h"
#include "overlapd/v1/status_detail.h"
#include "tests/integration/server_harness.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

constexpr const char* kNames[] = {"a", "b", "c"};
constexpr const char* kPrefixes[] = {"alpha", "beta", "gamma"};

// The map: node i owns kPrefixes[i], except where `owners` moves a prefix.
std::string MapJson(uint64_t version, const std::vector<int>& ports,
                    const std::map<std::string, int>& moved = {}) {
  std::string nodes;
  for (int i = 0; i < 3; ++i) {
    std::string prefixes;
    for (int p = 0; p < 3; ++p) {
      auto it = moved.find(kPrefixes[p]);
      const int owner = it == moved.end() ? p : it->second;
      if (owner != i) continue;
      absl::StrAppend(&prefixes, prefixes.empty() ? "" : ", ", "\"", kPrefixes[p], "\"");
    }
    absl::StrAppend(&nodes, i == 0 ? "" : ",\n", "{\"name\": \"", kNames[i],
                    "\", \"address\": \"127.0.0.1:", ports[i], "\", \"prefixes\": [", prefixes,
                    "]}");
  }
  return absl::StrCat("{\"version\": ", version, ", \"nodes\": [\n", nodes, "]}\n");
}

double Metric(const ServerProcess& node, const std::string& sample) {
  absl::StatusOr<HttpResponse> page = HttpGet(node.metrics_port(), "/metrics");
  if (!page.ok()) return -1;
  const size_t at = page->body.find("\n" + sample + " ");
  if (at == std::string::npos) return -1;
  return std::stod(page->body.substr(at + sample.size() + 2));
}

class Cluster : public ::testing::Test {
 protected:
  void SetUp() override {
    // The nodes listen on ports the kernel picks, so version 1 of the map
    // has placeholder addresses; version 2, their real ones, is the map
    // every test starts from.
    map_ = dir_.Join("placement.json");
    WriteFileOrDie(map_, MapJson(1, {0, 0, 0}));
    for (int i = 0; i < 3; ++i) {
      // Reloads on SIGHUP only: the tests choose which node learns a new
      // map when.
      auto node = ServerProcess::Start({"--placement", map_, "--node", kNames[i], "--workers",
                                        "1", "--placement-poll-seconds", "0"});
      ASSERT_TRUE(node.ok()) << node.status();
      // Every node has every prefix's directory: a misplaced write would land.
      for (const char* p : kPrefixes) {
        ASSERT_EQ(mkdir((*node)->RootPath(p).c_str(), 0755), 0);
      }
      ports_.push_back((*node)->grpc_port());
      nodes_.push_back(*std::move(node));
    }
    ChangeMap(2, {}, {0, 1, 2});
    auto cluster = ClusterClient::Connect({nodes_[1]->address()});
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
  }

  // Which nodes hold `path` on disk, e.g. "b" or "" or "bc".
  std::string Holders(const std::string& path) const {
    std::string out;
    for (int i = 0; i < 3; ++i) {
      if (PathExists(nodes_[i]->RootPath(path))) out += kNames[i];
    }
    return out;
  }

  // Rewrites the map and reloads it on the nodes in `order`, each waiting
  // for its log line.
  void ChangeMap(uint64_t version, const std::map<std::string, int>& moved,
                 const std::vector<int>& order) {
    WriteFileOrDie(map_, MapJson(version, ports_, moved));
    for (int i : order) {
      nodes_[i]->Signal(SIGHUP);
      ASSERT_TRUE(nodes_[i]->WaitForLog(absl::StrCat("placement map version ", version),
                                        seconds(10)))
          << nodes_[i]->Log();
    }
  }

  TempDir dir_{"overlapd-cluster-"};
  std::string map_;
  std::vector<int> ports_;
  std::vector<std::unique_ptr<ServerProcess>> nodes_;
  std::unique_ptr<ClusterClient> cluster_;
};

TEST_F(Cluster, ThousandFileBatchLandsEveryFileOnItsOwner) {
  v1::Batch batch;
  batch.set_tag(77);
  for (int i = 0; i < 1000; ++i) {
    *batch.add_ops() = WriteOp(1000 + i, absl::StrFormat("%s/f%04d", kPrefixes[i % 3], i),
                               absl::StrCat("file ", i));
  }
  std::vector<v1::Event> events;
  absl::Status s = cluster_->Execute(batch, [&](const v1::Event& e) { events.push_back(e); });
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(events.size(), 1001u);
  EXPECT_EQ(events.back().type(), v1::BATCH_COMPLETE);
  EXPECT_EQ(events.back().tag(), 77u);
  EXPECT_EQ(events.back().count(), 1000u);
  std::set<uint64_t> tags;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const v1::Event& e = events[i];
    ASSERT_EQ(e.type(), v1::WRITE_COMPLETE) << Describe(e);
    EXPECT_EQ(e.tag(), 1000 + e.op_index()) << "op_index is the batch's, not the part's";
    tags.insert(e.tag());
  }
  EXPECT_EQ(tags.size(), 1000u);
  for (int i = 0; i < 1000; ++i) {
    const std::string path = absl::StrFormat("%s/f%04d", kPrefixes[i % 3], i);
    ASSERT_EQ(Holders(path), kNames[i % 3]) << path;
  }
  EXPECT_EQ(ReadFileOrDie(nodes_[2]->RootPath("gamma/f0998")), "file 998");
}

// Every entry point refuses a path of another node before any IO, with the
// detail naming the owner, and its second spellings too.
TEST_F(Cluster, WrongNodeAnswersWithTheRedirectAndChangesNothing) {
  const auto before = TreeSnapshot(nodes_[0]->root());
  auto stub = nodes_[0]->NewStub();
  for (const char* path : {"beta/x", "./beta/x", "beta//x", "alpha/../beta/x"}) {
    v1::Batch batch;
    *batch.add_ops() = WriteOp(1, "alpha/fine", "a");  // ops[0] is a's: nothing runs either
    *batch.add_ops() = WriteOp(2, path, "b");
    CallResult r = RunExecute(*stub, batch);
    ASSERT_EQ(r.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << path;
    EXPECT_TRUE(r.events.empty());
    std::optional<v1::Redirect> redirect = RedirectOf(FromGrpcWithDetails(r.status));
    ASSERT_TRUE(redirect.has_value()) << r.status.error_message();
    EXPECT_EQ(redirect->reason(), "other_node");
    EXPECT_EQ(redirect->owner(), "b");
    EXPECT_EQ(redirect->address(), nodes_[1]->address());
    EXPECT_EQ(redirect->placement_version(), 2u);
    EXPECT_EQ(redirect->field(), "ops[1].write.path");
  }
  // Submit (jobs) and BeginUpload.
  v1::Batch job;
  *job.add_ops() = WriteOp(1, "gamma/job", "j");
  grpc::ClientContext submit_context;
  v1::Job reply;
  grpc::Status submitted = stub->Submit(&submit_context, job, &reply);
  EXPECT_EQ(submitted.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(RedirectOf(FromGrpcWithDetails(submitted))->owner(), "c");
  grpc::ClientContext upload_context;
  v1::BeginUploadRequest upload;
  upload.set_path("beta/up");
  v1::Upload minted;
  grpc::Status began = stub->BeginUpload(&upload_context, upload, &minted);
  EXPECT_EQ(began.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(RedirectOf(FromGrpcWithDetails(began))->owner(), "b");
  // A Session answers with a refused BATCH_COMPLETE carrying the redirect.
  v1::Batch in_session;
  in_session.set_tag(5);
  *in_session.add_ops() = ReadOp(1, "beta/x");
  CallResult session = RunSession(*stub, {in_session});
  ASSERT_EQ(session.events.size(), 1u);
  EXPECT_EQ(session.events[0].type(), v1::BATCH_COMPLETE);
  EXPECT_EQ(session.events[0].error().code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(session.events[0].error().redirect().owner(), "b");
  EXPECT_TRUE(session.status.ok()) << session.status.error_message();
  // A path no prefix owns is refused on every node, saying so.
  for (const auto& node : nodes_) {
    v1::Batch unowned;
    *unowned.add_ops() = WriteOp(1, "alphabet/x", "u");
    CallResult r = RunExecute(*node->NewStub(), unowned);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_NE(r.status.error_message().find("no node of the cluster serves it"),
              std::string::npos) << r.status.error_message();
  }
  EXPECT_EQ(TreeSnapshot(nodes_[0]->root()), before);
  EXPECT_EQ(Holders("beta/x"), "");
  EXPECT_EQ(Holders("gamma/job"), "");
  EXPECT_GE(Metric(*nodes_[0], "overlapd_redirects_total{reason=\"other_node\"}"), 7);
  EXPECT_GE(Metric(*nodes_[0], "overlapd_redirects_total{reason=\"unowned\"}"), 1);
  // The access log's reason and its metric name the refusals too.
  EXPECT_GE(Metric(*nodes_[0], "overlapd_batches_refused_total{reason=\"placement\"}"), 4);
  EXPECT_EQ(Metric(*nodes_[0], "overlapd_placement_version"), 2);
}

// gamma moves from c to b (version 3) while a client writes gamma files:
// the new owner reloads first, then the old one, which from then on
// redirects; the client follows. Every write lands once, on the node that
// owned gamma when it ran; none is lost, none lands on a.
TEST_F(Cluster, MapChangeUnderAWritingClientLosesAndMisplacesNothing) {
  std::atomic<bool> changed{false};
  std::vector<std::pair<std::string, uint64_t>> written;  // path, map version before the write
  std::vector<std::string> failures;
  std::thread writer([&] {
    const auto stop_at = std::chrono::steady_clock::now() + seconds(30);
    int after_change = 0;
    for (int i = 0; i < 2000 && after_change < 40 && std::chrono::steady_clock::now() < stop_at;
         ++i) {
      if (changed.load()) ++after_change;
      v1::Batch batch;
      const std::string path = absl::StrFormat("gamma/w%04d", i);
      *batch.add_ops() = WriteOp(i, path, path);
      const uint64_t version = cluster_->version();
      absl::Status s = cluster_->Execute(batch, [&](const v1::Event& e) {
        if (e.type() == v1::OP_FAILED) failures.push_back(Describe(e));
      });
      if (!s.ok()) failures.push_back(std::string(s.message()));
      written.emplace_back(path, version);
    }
  });
  std::this_thread::sleep_for(milliseconds(300));  // let some writes land on c first
  ChangeMap(3, {{"gamma", 1}}, {1, 0, 2});
  changed = true;
  writer.join();
  EXPECT_TRUE(failures.empty()) << failures.front();
  EXPECT_EQ(cluster_->version(), 3u);
  int on_b = 0, on_c = 0;
  for (const auto& [path, version] : written) {
    const std::string holders = Holders(path);
    ASSERT_TRUE(holders == "b" || holders == "c") << path << " on '" << holders << "'";
    if (version == 3) EXPECT_EQ(holders, "b") << path << " written under version 3";
    EXPECT_EQ(ReadFileOrDie(nodes_[holders == "b" ? 1 : 2]->RootPath(path)), path);
    (holders == "b" ? on_b : on_c)++;
  }
  EXPECT_GT(on_c, 0) << "no write before the change";
  EXPECT_GE(on_b, 40) << "too few writes after the change";
  EXPECT_EQ(Metric(*nodes_[2], "overlapd_placement_version"), 3);
}

TEST_F(Cluster, StoppedNodeFailsItsPrefixesUnavailableWhileTheOthersGoOn) {
  ASSERT_TRUE(nodes_[2]->Stop().ok());
  v1::Batch batch;
  for (int i = 0; i < 30; ++i) {
    *batch.add_ops() = WriteOp(i, absl::StrFormat("%s/s%02d", kPrefixes[i % 3], i), "x");
  }
  std::map<uint64_t, v1::Event> last;
  absl::Status s = cluster_->Execute(batch, [&](const v1::Event& e) {
    if (e.type() != v1::BATCH_COMPLETE) last[e.tag()] = e;
  });
  ASSERT_TRUE(s.ok()) << s;
  for (int i = 0; i < 30; ++i) {
    const v1::Event& e = last[i];
    if (i % 3 == 2) {
      EXPECT_EQ(e.type(), v1::OP_FAILED) << Describe(e);
      EXPECT_EQ(e.error().code(), grpc::StatusCode::UNAVAILABLE);
      EXPECT_NE(e.error().message().find("node c"), std::string::npos) << e.error().message();
      EXPECT_EQ(Holders(e.path()), "");
    } else {
      EXPECT_EQ(e.type(), v1::WRITE_COMPLETE) << Describe(e);
      EXPECT_EQ(Holders(absl::StrFormat("%s/s%02d", kPrefixes[i % 3], i)), kNames[i % 3]);
    }
  }
  CommandResult nodes = RunCommand({BinDir() + "/overlap", "--cluster",
                                    nodes_[0]->address(), "nodes"});
  EXPECT_EQ(nodes.exit_code, 1) << nodes.err;
  EXPECT_NE(nodes.out.find(absl::StrCat("c 127.0.0.1:", ports_[2], " UNAVAILABLE")),
            std::string::npos) << nodes.out;
  EXPECT_NE(nodes.out.find(absl::StrCat("a 127.0.0.1:", ports_[0], " SERVING 2 alpha")),
            std::string::npos) << nodes.out;
}

TEST_F(Cluster, CrossNodeCopyAndChainAreRefusedAndUnownedPathsToo) {
  ASSERT_TRUE(cluster_->Execute([&] {
    v1::Batch b;
    *b.add_ops() = WriteOp(1, "alpha/src", "bytes");
    return b;
  }(), [](const v1::Event&) {}).ok());
  v1::Batch copy;
  v1::Copy* c = copy.add_ops()->mutable_copy();
  c->set_src("alpha/src");
  c->set_dst("beta/dst");
  absl::Status s = cluster_->Execute(copy, [](const v1::Event&) {});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("never crosses nodes"), std::string::npos) << s;
  CallResult direct = RunExecute(*nodes_[0]->NewStub(), copy);
  EXPECT_EQ(direct.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(RedirectOf(FromGrpcWithDetails(direct.status))->reason(), "cross_node");
  EXPECT_EQ(Holders("beta/dst"), "");
  EXPECT_GE(Metric(*nodes_[0], "overlapd_redirects_total{reason=\"cross_node\"}"), 1);

  // A linked chain stays on one node: whole when it does, refused when it
  // would cross; a path no node owns is refused before any call.
  v1::Batch chained;
  *chained.add_ops() = WriteOp(1, "beta/chained", "c");
  chained.mutable_ops(0)->set_link_next(true);
  chained.add_ops()->mutable_fsync()->set_path("./beta/chained");
  chained.mutable_ops(1)->set_tag(2);
  *chained.add_ops() = WriteOp(3, "gamma/alone", "g");
  int completed = 0;
  ASSERT_TRUE(cluster_->Execute(chained, [&](const v1::Event& e) {
    completed += e.type() == v1::WRITE_COMPLETE || e.type() == v1::FSYNC_COMPLETE;
  }).ok());
  EXPECT_EQ(completed, 3);
  EXPECT_EQ(Holders("beta/chained"), "b");
  chained.mutable_ops(1)->mutable_fsync()->set_path("alpha/src");
  s = cluster_->Execute(chained, [](const v1::Event&) {});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("ops[1].fsync.path \"alpha/src\" on node a"), std::string::npos) << s;
  v1::Batch unowned;
  *unowned.add_ops() = WriteOp(1, "delta/x", "d");
  s = cluster_->Execute(unowned, [](const v1::Event&) {});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("no node of the cluster serves it"), std::string::npos) << s;
}

TEST_F(Cluster, CliRoutesByTheMapAndListsTheNodes) {
  const std::string local = dir_.Join("local.txt");
  WriteFileOrDie(local, "from the cli\n");
  const std::string cluster = absl::StrCat(nodes_[0]->address(), ",", nodes_[1]->address());
  CommandResult put = RunCommand({BinDir() + "/overlap", "--cluster", cluster, "put", local,
                                  "gamma/cli.txt"});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  EXPECT_EQ(Holders("gamma/cli.txt"), "c");
  CommandResult cat = RunCommand({BinDir() + "/overlap", "--cluster", cluster, "cat",
                                  "./gamma//cli.txt"});
  EXPECT_EQ(cat.exit_code, 0) << cat.err;
  EXPECT_EQ(cat.out, "from the cli\n");
  CommandResult nodes = RunCommand({BinDir() + "/overlap", "--cluster", cluster, "nodes"});
  ASSERT_EQ(nodes.exit_code, 0) << nodes.err;
  EXPECT_NE(nodes.out.find("placement map version 2"), std::string::npos) << nodes.out;
  EXPECT_NE(nodes.out.find(absl::StrCat("b 127.0.0.1:", ports_[1], " SERVING 2 beta")),
            std::string::npos) << nodes.out;
  // Paths of one command on two nodes: refused before any call, both named.
  CommandResult spread = RunCommand({BinDir() + "/overlap", "--cluster", cluster, "stat",
                                     "gamma/cli.txt", "beta/none"});
  EXPECT_EQ(spread.exit_code, 1);
  EXPECT_NE(spread.err.find("INVALID_ARGUMENT"), std::string::npos) << spread.err;
  EXPECT_NE(spread.err.find("\"gamma/cli.txt\" is on node c and \"beta/none\" on node b"),
            std::string::npos) << spread.err;
  // Straight to the wrong node, the CLI shows the redirect.
  CommandResult wrong = nodes_[0]->RunCli({"stat", "beta/none"});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("FAILED_PRECONDITION"), std::string::npos) << wrong.err;
  EXPECT_NE(wrong.err.find("belongs to node b"), std::string::npos) << wrong.err;
}

TEST_F(Cluster, BadMapOnReloadKeepsTheMapInForce) {
  WriteFileOrDie(map_, "{\"version\": 9, \"nodes\": [{\"name\": \"zz\", \"address\": \"x:1\"}]}");
  nodes_[0]->Signal(SIGHUP);
  ASSERT_TRUE(nodes_[0]->WaitForLog("the placement map in force stays", seconds(10)))
      << nodes_[0]->Log();
  EXPECT_NE(nodes_[0]->Log().find("has no node \"a\""), std::string::npos);
  EXPECT_EQ(Metric(*nodes_[0], "overlapd_placement_version"), 2);
  auto served = Client(nodes_[0]->NewChannel()).GetPlacement();
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->version(), 2u);
  EXPECT_EQ(served->node(), "a");
  EXPECT_EQ(served->nodes_size(), 3);
}

// Startup refusals and a node alone (no --placement: nothing changes).
TEST(ClusterFlags, StartupRefusalsAndTheSingleNode) {
  TempDir dir("overlapd-cluster-flags-");
  const std::string map = dir.Join("map.json");
  WriteFileOrDie(map, R"({"version": 1, "nodes": [{"name": "a", "address": "x:1",
                          "prefixes": ["p"]}]})");
  auto no_node = ServerProcess::Start({"--placement", map});
  ASSERT_FALSE(no_node.ok());
  EXPECT_NE(no_node.status().message().find("--placement and --node go together"),
            std::string::npos) << no_node.status();
  auto stranger = ServerProcess::Start({"--placement", map, "--node", "q"});
  ASSERT_FALSE(stranger.ok());
  EXPECT_NE(stranger.status().message().find("has no node \"q\""), std::string::npos)
      << stranger.status();
  auto alone = ServerProcess::Start();
  ASSERT_TRUE(alone.ok()) << alone.status();
  auto cluster = ClusterClient::Connect({(*alone)->address()});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  EXPECT_EQ((*cluster)->version(), 0u);
  v1::Batch batch;
  *batch.add_ops() = WriteOp(1, "./where", "w");
  ASSERT_TRUE((*cluster)->Execute(batch, [](const v1::Event& e) {
    EXPECT_NE(e.type(), v1::OP_FAILED) << Describe(e);
  }).ok());
  EXPECT_TRUE(PathExists((*alone)->RootPath("where")));
  EXPECT_EQ(Metric(**alone, "overlapd_placement_version"), 0);
}

// A map updated in place, as a Kubernetes ConfigMap is (a new file swapped
// in under the same name), is picked up without a signal; one that does not
// parse leaves the map in force.
TEST(ClusterFlags, ChangedMapFileIsPickedUpWithoutASignal) {
  TempDir dir("overlapd-cluster-watch-");
  const std::string map = dir.Join("map.json");
  auto map_json = [](int version, const std::string& prefixes) {
    return absl::StrCat(R"({"version": )", version,
                        R"(, "nodes": [{"name": "a", "address": "x:1", "prefixes": [)",
                        prefixes, "]}]}");
  };
  auto swap_in = [&](const std::string& text) {
    WriteFileOrDie(dir.Join("next.json"), text);
    ASSERT_EQ(rename(dir.Join("next.json").c_str(), map.c_str()), 0);
  };
  WriteFileOrDie(map, map_json(1, R"("alpha")"));
  auto node = ServerProcess::Start(
      {"--placement", map, "--node", "a", "--placement-poll-seconds", "1"});
  ASSERT_TRUE(node.ok()) << node.status();
  v1::Batch beta;
  *beta.add_ops() = WriteOp(1, "beta/x", "b");
  auto stub = (*node)->NewStub();
  // Positive control: beta is nobody's under version 1.
  CallResult refused = RunExecute(*stub, beta);
  ASSERT_EQ(refused.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << refused.status.error_message();

  swap_in(map_json(2, R"("alpha", "beta")"));
  ASSERT_TRUE((*node)->WaitForLog("placement map version 2", seconds(15))) << (*node)->Log();
  auto served = Client((*node)->NewChannel()).GetPlacement();
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_EQ(served->version(), 2u);
  ASSERT_EQ(mkdir((*node)->RootPath("beta").c_str(), 0755), 0);
  CallResult written = RunExecute(*stub, beta);
  ASSERT_TRUE(written.status.ok()) << written.status.error_message();
  ASSERT_FALSE(written.events.empty());
  EXPECT_EQ(written.events.front().type(), v1::WRITE_COMPLETE)
      << Describe(written.events.front());

  swap_in("{\"version\": 3, \"nodes\": [");
  ASSERT_TRUE((*node)->WaitForLog("the file changed", seconds(15))) << (*node)->Log();
  EXPECT_NE((*node)->Log().find("the placement map in force stays"), std::string::npos);
  EXPECT_EQ(Metric(**node, "overlapd_placement_version"), 2);
}

}  // namespace
}  // namespace overlapd::itest
