// The Grafana dashboard against a real Prometheus scraping a real overlapd:
// every query of every panel returns data after ordinary traffic, and every
// metric family overlapd exports is graphed somewhere.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/client_context.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "tests/integration/server_test.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

using std::chrono::seconds;

constexpr char kToken[] = "da5hb0a2d00000000000000000000000";  // read,write, prefix pub

// Every Prometheus expression of the dashboard, with its panel's title.
std::vector<std::pair<std::string, std::string>> DashboardQueries(const nlohmann::json& d) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& panel : d["panels"]) {
    for (const auto& target : panel.value("targets", nlohmann::json::array())) {
      if (target.contains("expr")) out.push_back({panel["title"], target["expr"]});
    }
  }
  return out;
}

class DashboardTest : public ServerTest {
 protected:
  // Calls of every kind the dashboard shows: reads and writes, a refused
  // batch, an unknown token, a job, a subscription.
  void Traffic() {
    ASSERT_EQ(::mkdir(server_->RootPath("pub").c_str(), 0755), 0);
    auto stub = server_->NewStub();
    auto call = [&](const std::string& token, const v1::Batch& batch) {
      grpc::ClientContext context;
      context.AddMetadata("authorization", "Bearer " + token);
      auto reader = stub->Execute(&context, batch);
      v1::EventBatch events;
      while (reader->Read(&events)) {
      }
      return reader->Finish();
    };
    v1::Batch writes, reads, outside;
    *writes.add_ops() = WriteOp(1, "pub/a", RandomBytes(10000, 1));
    *reads.add_ops() = ReadOp(1, "pub/a");
    *reads.add_ops() = ReadOp(2, "pub/missing");
    *outside.add_ops() = ReadOp(1, "secret");
    EXPECT_TRUE(call(kToken, writes).ok());
    EXPECT_TRUE(call(kToken, reads).ok());
    EXPECT_TRUE(call(kToken, reads).ok());  // fd cache hit
    EXPECT_EQ(call(kToken, outside).error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(call("ffffffffffffffffffffffffffffffff", reads).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", kToken));
    v1::Batch job;
    v1::Op* copy = job.add_ops();
    copy->mutable_copy()->set_src("pub/a");
    copy->mutable_copy()->set_dst("pub/b");
    v1::Job submitted;
    EXPECT_TRUE(stub->Submit(&context, job, &submitted).ok());
  }

  // Runs `query` now; the number of series it returns, or -1 on error.
  int Series(int port, const std::string& query, std::string* body) {
    absl::StatusOr<HttpResponse> r =
        HttpGet(port, "/api/v1/query?query=" + UrlEncode(query), seconds(10));
    if (!r.ok() || r->status != 200) return -1;
    *body = r->body;
    nlohmann::json j = nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || j.value("status", "") != "success") return -1;
    return static_cast<int>(j["data"]["result"].size());
  }
};

TEST_F(DashboardTest, EveryPanelQueryReturnsDataAndEveryFamilyIsGraphed) {
  const std::string prometheus = "/usr/bin/prometheus";
  if (::access(prometheus.c_str(), X_OK) != 0) {
    GTEST_SKIP() << prometheus << " not installed (Debian package `prometheus`, installed by "
                 << "scripts/deps.sh --test)";
  }
  const nlohmann::json dashboard = nlohmann::json::parse(
      ReadFileOrDie(std::string(OVERLAPD_SOURCE_DIR) + "/deploy/grafana/dashboards/overlapd.json"));
  TempDir dir("overlapd-dash-");
  WriteFileOrDie(dir.Join("tokens"), absl::StrCat(kToken, " read,write pub name=dash\n"));
  ASSERT_NO_FATAL_FAILURE(StartServer({"--tokens", dir.Join("tokens")}));
  ASSERT_NO_FATAL_FAILURE(Traffic());

  // Every family on /metrics appears in some panel.
  absl::StatusOr<HttpResponse> metrics = HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const std::string text = dashboard.dump();
  std::set<std::string> families;
  for (absl::string_view line : absl::StrSplit(metrics->body, '\n')) {
    std::vector<std::string> w = absl::StrSplit(line, ' ');
    if (w.size() == 4 && w[0] == "#" && w[1] == "TYPE") families.insert(w[2]);
  }
  ASSERT_GT(families.size(), 20u);
  // process_virtual_memory_bytes: exported for completeness, not worth a graph.
  families.erase("process_virtual_memory_bytes");
  for (const std::string& family : families) {
    EXPECT_TRUE(absl::StrContains(text, family)) << family << " is on no panel";
  }

  // A real Prometheus scrapes overlapd; then every panel query must answer.
  absl::StatusOr<Prometheus> prom = StartPrometheus(prometheus, dir, server_->metrics_port());
  ASSERT_TRUE(prom.ok()) << prom.status();
  // rate() needs two samples of a series: wait until three scrapes are in.
  std::string body;
  const auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (std::chrono::steady_clock::now() < deadline && prom->process->Running() &&
         Series(prom->port, "count_over_time(up{job=\"overlapd\"}[1m]) >= 3", &body) < 1) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));  // polling Prometheus
  }
  ASSERT_EQ(Series(prom->port, "count_over_time(up{job=\"overlapd\"}[1m]) >= 3", &body), 1)
      << "Prometheus did not scrape overlapd 3 times in 60 s: " << body << "\n"
      << prom->process->Output();
  const auto queries = DashboardQueries(dashboard);
  ASSERT_GT(queries.size(), 25u);
  for (const auto& [title, expr] : queries) {
    const std::string query = absl::StrReplaceAll(expr, {{"$instance", ".*"}});
    EXPECT_GE(Series(prom->port, query, &body), 1) << "panel \"" << title << "\": " << query
                                              << " returned nothing: " << body;
  }
  prom->process->Signal(SIGTERM);
  EXPECT_TRUE(prom->process->Wait(seconds(15)).ok());
}

}  // namespace
}  // namespace overlapd::itest
