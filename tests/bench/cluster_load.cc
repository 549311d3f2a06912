// overlapd_cluster_bench: 4 KiB reads routed through ClusterClient over the
// nodes of a cluster, or the same batches sent straight to one node, for
// tests/bench/cluster.sh (the cost of routing, same total load).
//
//   overlapd_cluster_bench --cluster A,B,C | --direct ADDR  --files N
//                          [--threads 4] [--batch 48] [--seconds 5]
//
// Each of --threads threads runs Execute calls one after the other, each a
// batch of --batch reads of whole files "alpha/fNNN", "beta/fNNN",
// "gamma/fNNN" in turn (N < --files), through one ClusterClient (--cluster:
// split per owner, parts at once, events merged) or one Client (--direct).
// Prints one line: ops=N seconds=S ops_per_s=X errors=E. A benchmark, not a
// test.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/strings/str_format.h"
#include "clients/cpp/cluster_client.h"
#include "ioengine/mutex_mode.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string cluster, direct;
  int files = 0, threads = 4, batch = 48;
  double seconds = 5;
};

overlapd::v1::Batch MakeBatch(const Flags& f, int thread) {
  static const char* kPrefixes[] = {"alpha", "beta", "gamma"};
  overlapd::v1::Batch batch;
  for (int i = 0; i < f.batch; ++i) {
    const int n = (thread * f.batch + i) / 3 % f.files;
    overlapd::v1::Op* op = batch.add_ops();
    op->set_tag(i);
    op->mutable_read()->set_path(absl::StrFormat("%s/f%03d", kPrefixes[i % 3], n));
  }
  return batch;
}

}  // namespace

int main(int argc, char** argv) {
  overlapd::SkipMutexDeadlockDetection();
  Flags f;
  CLI::App app{"Routed 4 KiB reads through ClusterClient, or straight to one node"};
  auto* cluster_flag = app.add_option("--cluster", f.cluster, "Nodes, A,B,C");
  app.add_option("--direct", f.direct, "One node's address")->excludes(cluster_flag);
  app.add_option("--files", f.files, "Files alpha|beta|gamma/fNNN, NNN < N")
      ->required()->check(CLI::PositiveNumber);
  app.add_option("--threads", f.threads)->check(CLI::PositiveNumber);
  app.add_option("--batch", f.batch)->check(CLI::PositiveNumber);
  app.add_option("--seconds", f.seconds)->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  if (f.cluster.empty() == f.direct.empty()) {
    std::fprintf(stderr, "overlapd_cluster_bench: one of --cluster and --direct\n");
    return 2;
  }
  std::unique_ptr<overlapd::ClusterClient> cluster;
  if (!f.cluster.empty()) {
    auto connected = overlapd::ClusterClient::Connect(overlapd::SplitAddresses(f.cluster));
    if (!connected.ok()) {
      std::fprintf(stderr, "%s\n", connected.status().ToString().c_str());
      return 1;
    }
    cluster = *std::move(connected);
  }
  std::atomic<uint64_t> ops{0}, errors{0};
  const Clock::time_point start = Clock::now();
  const Clock::time_point end =
      start + std::chrono::microseconds(static_cast<int64_t>(f.seconds * 1e6));
  std::vector<std::thread> threads;
  for (int t = 0; t < f.threads; ++t) {
    threads.emplace_back([&, t] {
      const overlapd::v1::Batch batch = MakeBatch(f, t);
      std::unique_ptr<overlapd::Client> direct;
      if (cluster == nullptr) direct = *overlapd::Client::Connect(f.direct);
      const auto count = [&](const overlapd::v1::Event& e) {
        if (e.type() == overlapd::v1::READ_COMPLETE) ops.fetch_add(1);
        if (e.type() == overlapd::v1::OP_FAILED) errors.fetch_add(1);
      };
      while (Clock::now() < end) {
        absl::Status s = cluster != nullptr ? cluster->Execute(batch, count)
                                            : direct->Execute(batch, count);
        if (!s.ok()) errors.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("ops=%lu seconds=%.2f ops_per_s=%.0f errors=%lu\n", ops.load(), secs,
              static_cast<double>(ops.load()) / secs, errors.load());
  return errors.load() * 1000 > ops.load() + 1 ? 1 : 0;
}
