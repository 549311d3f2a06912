// The Prometheus exporter: what /metrics shows after real traffic, and a
// real Prometheus scraping it.
#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/client_context.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/integration/server_test.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

using Labels = std::map<std::string, std::string>;

// One sample of the text exposition format: name{k="v",...} value.
struct Sample {
  std::string name;
  Labels labels;
  double value = 0;
};

std::vector<Sample> ParseExposition(const std::string& text) {
  std::vector<Sample> samples;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (line[0] == '#') continue;
    Sample s;
    const size_t brace = line.find('{');
    const size_t space = line.rfind(' ');
    if (space == absl::string_view::npos) continue;
    if (brace != absl::string_view::npos && brace < space) {
      s.name = std::string(line.substr(0, brace));
      const size_t close = line.rfind('}', space);
      // Label values here never contain '"' or ',' (op names, numbers).
      for (absl::string_view pair :
           absl::StrSplit(line.substr(brace + 1, close - brace - 1), ',', absl::SkipEmpty())) {
        const size_t eq = pair.find('=');
        if (eq == absl::string_view::npos || pair.size() < eq + 3) continue;
        s.labels[std::string(pair.substr(0, eq))] =
            std::string(pair.substr(eq + 2, pair.size() - eq - 3));
      }
    } else {
      s.name = std::string(line.substr(0, space));
    }
    absl::string_view value = line.substr(space + 1);
    if (value == "+Inf") {
      s.value = INFINITY;
    } else if (!absl::SimpleAtod(value, &s.value)) {
      continue;
    }
    samples.push_back(std::move(s));
  }
  return samples;
}

// The samples of `name` whose labels include `want`.
std::vector<Sample> Find(const std::vector<Sample>& samples, const std::string& name,
                         const Labels& want = {}) {
  std::vector<Sample> out;
  for (const Sample& s : samples) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : want) {
      auto it = s.labels.find(k);
      match = match && it != s.labels.end() && it->second == v;
    }
    if (match) out.push_back(s);
  }
  return out;
}

// The value of the one sample of `name` with `want`, 0 when absent.
double Value(const std::vector<Sample>& samples, const std::string& name, const Labels& want) {
  std::vector<Sample> found = Find(samples, name, want);
  EXPECT_LE(found.size(), 1u) << name;
  return found.empty() ? 0 : found[0].value;
}

class MetricsTest : public ServerTest {
 protected:
  std::vector<Sample> Scrape() {
    absl::StatusOr<HttpResponse> r = HttpGet(server_->metrics_port(), "/metrics");
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return {};
    EXPECT_EQ(r->status, 200) << r->body.substr(0, 500);
    last_text_ = r->body;
    return ParseExposition(r->body);
  }

  // Writes `n` files, then reads them plus one missing file in one batch.
  // Returns the bytes read.
  uint64_t Traffic(int n, std::vector<Sample>* before) {
    auto stub = server_->NewStub();
    v1::Batch writes;
    uint64_t bytes = 0;
    for (int i = 0; i < n; ++i) {
      const std::string data = RandomBytes(1000 + 12345 * i, i);
      bytes += data.size();
      *writes.add_ops() = WriteOp(i, absl::StrCat("m", i), data);
    }
    CallResult w = RunExecute(*stub, writes);
    EXPECT_TRUE(w.status.ok()) << w.status.error_message();
    *before = Scrape();
    v1::Batch reads;
    for (int i = 0; i < n; ++i) *reads.add_ops() = ReadOp(i, absl::StrCat("m", i));
    *reads.add_ops() = ReadOp(n, "missing");
    CallResult r = RunExecute(*stub, reads);
    EXPECT_TRUE(r.status.ok()) << r.status.error_message();
    size_t non_chunk = 0;
    for (const v1::Event& e : r.events) non_chunk += e.type() != v1::READ_CHUNK;
    EXPECT_EQ(non_chunk, static_cast<size_t>(n + 2));  // n + 1 ops, BATCH_COMPLETE
    return bytes;
  }

  std::string last_text_;
};

TEST_F(MetricsTest, ExporterShowsFamiliesAndCountsReads) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--workers", "2"}));
  constexpr int kReads = 7;
  std::vector<Sample> before;
  const uint64_t bytes = Traffic(kReads, &before);
  std::vector<Sample> after = Scrape();
  ASSERT_FALSE(after.empty());

  // Every family of the design is exported.
  for (const char* family : {"overlapd_engine_queue_depth", "overlapd_engine_pending_ops",
                             "overlapd_op_latency_seconds_bucket", "overlapd_ops_total",
                             "overlapd_bytes_total", "overlapd_streams"}) {
    EXPECT_FALSE(Find(after, family).empty()) << "no " << family << " in:\n" << last_text_;
  }
  // Queue depth per worker.
  EXPECT_EQ(Find(after, "overlapd_engine_queue_depth").size(), 2u);
  EXPECT_EQ(Find(after, "overlapd_engine_queue_depth", {{"worker", "1"}}).size(), 1u);
  // Latency histogram by op and phase.
  for (const char* phase : {"queue", "service", "total"}) {
    EXPECT_EQ(Find(after, "overlapd_op_latency_seconds_bucket",
                   {{"op", "read"}, {"phase", phase}, {"le", "+Inf"}}).size(), 1u)
        << phase;
    EXPECT_EQ(Value(after, "overlapd_op_latency_seconds_count", {{"op", "read"}, {"phase", phase}}) -
                  Value(before, "overlapd_op_latency_seconds_count", {{"op", "read"}, {"phase", phase}}),
              kReads + 1)
        << phase;
  }
  // Counters moved by exactly this traffic.
  const Labels read_ok = {{"op", "read"}, {"result", "ok"}};
  const Labels read_error = {{"op", "read"}, {"result", "error"}};
  EXPECT_EQ(Value(after, "overlapd_ops_total", read_ok) - Value(before, "overlapd_ops_total", read_ok),
            kReads);
  EXPECT_EQ(Value(after, "overlapd_ops_total", read_error) -
                Value(before, "overlapd_ops_total", read_error),
            1);
  EXPECT_EQ(Value(after, "overlapd_ops_total", {{"op", "write"}, {"result", "ok"}}), kReads);
  EXPECT_EQ(Value(after, "overlapd_bytes_total", {{"direction", "read"}}) -
                Value(before, "overlapd_bytes_total", {{"direction", "read"}}),
            static_cast<double>(bytes));
  EXPECT_EQ(Value(after, "overlapd_bytes_total", {{"direction", "write"}}),
            static_cast<double>(bytes));
  // No stream is left open once the calls ended. The server releases a
  // call (OnDone) just after the client has its status, so allow it a
  // moment.
  double open_streams = Value(after, "overlapd_streams", {{"rpc", "execute"}});
  for (int i = 0; i < 50 && open_streams != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    open_streams = Value(Scrape(), "overlapd_streams", {{"rpc", "execute"}});
  }
  EXPECT_EQ(open_streams, 0);
}

TEST_F(MetricsTest, RealPrometheusScrapesTheServer) {
  const std::string prometheus = "/usr/bin/prometheus";
  if (::access(prometheus.c_str(), X_OK) != 0) {
    GTEST_SKIP() << prometheus << " not installed (Debian package `prometheus`, installed by "
                 << "scripts/deps.sh --test in CI)";
  }
  ASSERT_NO_FATAL_FAILURE(StartServer());
  constexpr int kReads = 5;
  std::vector<Sample> before;
  Traffic(kReads, &before);

  TempDir dir("overlapd-prom-");
  absl::StatusOr<Prometheus> prom = StartPrometheus(prometheus, dir, server_->metrics_port());
  ASSERT_TRUE(prom.ok()) << prom.status();

  const std::string query =
      "/api/v1/query?query=" + UrlEncode("overlapd_ops_total{op=\"read\",result=\"ok\"}");
  std::optional<double> value;
  std::string last;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!value.has_value() && std::chrono::steady_clock::now() < deadline &&
         prom->process->Running()) {
    absl::StatusOr<HttpResponse> r = HttpGet(prom->port, query, std::chrono::seconds(5));
    if (r.ok() && r->status == 200) {
      last = r->body;
      nlohmann::json body = nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
      if (body.is_object() && body.value("status", "") == "success" &&
          !body["data"]["result"].empty()) {
        double v = 0;
        const std::string text = body["data"]["result"][0]["value"][1].get<std::string>();
        if (absl::SimpleAtod(text, &v)) value = v;
      }
    }
    if (!value.has_value()) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  std::string prom_log = prom->process->Output();
  prom->process->Signal(SIGTERM);
  absl::StatusOr<int> exited = prom->process->Wait(std::chrono::seconds(15));
  ASSERT_TRUE(value.has_value()) << "no overlapd_ops_total series in Prometheus within 30 s; "
                                 << "last answer: " << last << "\nprometheus log:\n" << prom_log;
  EXPECT_GT(*value, 0);
  EXPECT_EQ(*value, kReads);
  EXPECT_TRUE(exited.ok()) << exited.status();
}

}  // namespace
}  // namespace overlapd::itest
