// The status page at / on the metrics listener, in a real headless
// Chromium (Debian `chromium`): it loads without a console error, and after
// known traffic its figures are those of /metrics. A screenshot goes to
// build/test-artifacts/status_page.png.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/integration/server_test.h"
#include "tests/integration/test_util.h"

#ifndef OVERLAPD_ARTIFACTS_DIR
#error "OVERLAPD_ARTIFACTS_DIR must be defined by CMake"
#endif

namespace overlapd::itest {
namespace {

using std::chrono::seconds;

std::string FindChromium() {
  for (const char* path : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "";
}

// The value of the one sample `series` (name{labels} as exported), or NaN.
double Sample(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, series + " ")) continue;
    double v = NAN;
    if (absl::SimpleAtod(line.substr(series.size() + 1), &v)) return v;
  }
  return NAN;
}

// Prometheus' histogram_quantile over the `op` total-latency buckets of a
// /metrics text: an implementation independent of the page's JavaScript.
double Quantile(double q, const std::string& text, const std::string& op) {
  std::vector<std::pair<double, double>> buckets;  // le, cumulative count
  const std::string prefix =
      absl::StrCat("overlapd_op_latency_seconds_bucket{op=\"", op, "\",phase=\"total\",le=\"");
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, prefix)) continue;
    line.remove_prefix(prefix.size());
    const size_t quote = line.find('"');
    double le = INFINITY, count = 0;
    if (line.substr(0, quote) != "+Inf" && !absl::SimpleAtod(line.substr(0, quote), &le)) continue;
    if (!absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &count)) continue;
    buckets.push_back({le, count});
  }
  std::sort(buckets.begin(), buckets.end());
  if (buckets.empty() || buckets.back().second <= 0) return NAN;
  const double rank = q * buckets.back().second;
  size_t i = 0;
  while (i < buckets.size() && buckets[i].second < rank) ++i;
  if (std::isinf(buckets[i].first)) return buckets[buckets.size() - 2].first;
  const double lower = i == 0 ? 0 : buckets[i - 1].first;
  const double below = i == 0 ? 0 : buckets[i - 1].second;
  return lower + (buckets[i].first - lower) * ((rank - below) / (buckets[i].second - below));
}

// The element of `dom` whose data-k is `key`: its data-v (or NaN) and its
// text up to the next tag.
struct Figure {
  bool found = false;
  double value = NAN;
  std::string text;
};
Figure FigureOf(const std::string& dom, const std::string& key) {
  Figure f;
  const size_t at = dom.find("data-k=\"" + key + "\"");
  if (at == std::string::npos) return f;
  f.found = true;
  const size_t tag_end = dom.find('>', at);
  const std::string tag = dom.substr(at, tag_end - at);
  const size_t v = tag.find("data-v=\"");
  if (v != std::string::npos) {
    absl::SimpleAtod(tag.substr(v + 8, tag.find('"', v + 8) - v - 8), &f.value);
  }
  f.text = dom.substr(tag_end + 1, dom.find('<', tag_end) - tag_end - 1);
  return f;
}

class StatusPageTest : public ServerTest {
 protected:
  // Known traffic: kFiles writes, kFiles reads and one of a missing file,
  // and one backup job, waited for. Returns the job's id.
  uint64_t Traffic() {
    auto stub = server_->NewStub();
    v1::Batch writes, reads;
    for (int i = 0; i < kFiles; ++i) {
      *writes.add_ops() = WriteOp(i, absl::StrCat("f", i), RandomBytes(5000 + 1000 * i, i));
      *reads.add_ops() = ReadOp(i, absl::StrCat("f", i));
    }
    *reads.add_ops() = ReadOp(kFiles, "missing");
    EXPECT_TRUE(RunExecute(*stub, writes).status.ok());
    EXPECT_TRUE(RunExecute(*stub, reads).status.ok());
    v1::Batch backup;
    backup.set_label("nightly");
    v1::Op* copy = backup.add_ops();
    copy->mutable_copy()->set_src("f0");
    copy->mutable_copy()->set_dst("f0.bak");
    grpc::ClientContext context;
    v1::Job job;
    EXPECT_TRUE(stub->Submit(&context, backup, &job).ok());
    for (int i = 0; i < 500 && job.state() < v1::SUCCEEDED; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling the job's state
      grpc::ClientContext get;
      v1::GetJobRequest request;
      request.set_id(job.id());
      EXPECT_TRUE(stub->GetJob(&get, request, &job).ok());
    }
    EXPECT_EQ(job.state(), v1::SUCCEEDED);
    return job.id();
  }

  // Chromium, headless, on the page; `extra` picks the output.
  CommandResult Chromium(const std::string& chromium, const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--no-default-browser-check", "--disable-extensions",
        "--disable-background-networking", "--user-data-dir=" + profile_.path(),
        "--enable-logging=stderr", "--v=0",
        // Long enough (in the page's virtual time) for three reads 2 s apart.
        "--virtual-time-budget=7000"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(absl::StrCat("http://127.0.0.1:", server_->metrics_port(), "/"));
    return RunCommand(argv, seconds(120));
  }

  static constexpr int kFiles = 3;
  TempDir profile_{"overlapd-chromium-"};
};

TEST_F(StatusPageTest, ChromiumShowsWhatMetricsSay) {
  const std::string chromium = FindChromium();
  if (chromium.empty()) {
    GTEST_SKIP() << "chromium not installed (Debian package `chromium`, installed by "
                 << "scripts/deps.sh --test)";
  }
  ASSERT_NO_FATAL_FAILURE(StartServer({"--workers", "2"}));
  const uint64_t job = Traffic();
  absl::StatusOr<HttpResponse> page = HttpGet(server_->metrics_port(), "/");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->status, 200);
  // Self-contained: nothing is fetched from elsewhere.
  EXPECT_FALSE(absl::StrContains(page->body, "http://")) << "the page links out";
  EXPECT_FALSE(absl::StrContains(page->body, "https://")) << "the page links out";
  absl::StatusOr<HttpResponse> scrape = HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_TRUE(scrape.ok()) << scrape.status();
  const std::string& metrics = scrape->body;

  CommandResult dump = Chromium(chromium, {"--dump-dom"});
  ASSERT_EQ(dump.exit_code, 0) << dump.err.substr(0, 4000);
  const std::string& dom = dump.out;
  // The page ran its script, more than once, without an error.
  ASSERT_TRUE(absl::StrContains(dom, "data-errors=\"0\"")) << dom.substr(0, 4000);
  const size_t polls = dom.find("data-polls=\"");
  ASSERT_NE(polls, std::string::npos);
  EXPECT_GE(dom[polls + 12] - '0', 2) << "fewer than 2 refreshes";
  // The console carries only the page's own lines (positive control: they
  // are there, so console output is captured at all).
  int rendered = 0;
  for (absl::string_view line : absl::StrSplit(dump.err, '\n')) {
    if (!absl::StrContains(line, "CONSOLE")) continue;
    EXPECT_TRUE(absl::StrContains(line, "\"overlapd-status: rendered")) << line;
    ++rendered;
  }
  EXPECT_GE(rendered, 2) << dump.err.substr(0, 4000);

  // The figures are those of /metrics.
  auto expect_figure = [&](const std::string& key, double want) {
    Figure f = FigureOf(dom, key);
    EXPECT_TRUE(f.found) << key;
    EXPECT_EQ(f.value, want) << key << " shows \"" << f.text << "\"";
  };
  const std::string ops = "overlapd_ops_total{op=\"";
  expect_figure("ops:read:ok", Sample(metrics, ops + "read\",result=\"ok\"}"));
  expect_figure("ops:read:error", Sample(metrics, ops + "read\",result=\"error\"}"));
  expect_figure("ops:write:ok", Sample(metrics, ops + "write\",result=\"ok\"}"));
  expect_figure("ops:copy:ok", 1);
  EXPECT_EQ(FigureOf(dom, "ops:read:ok").value, kFiles);  // and /metrics says the truth
  expect_figure("total:read", Sample(metrics, "overlapd_bytes_total{direction=\"read\"}"));
  expect_figure("total:write", Sample(metrics, "overlapd_bytes_total{direction=\"write\"}"));
  for (const char* w : {"0", "1"}) {
    expect_figure(absl::StrCat("depth:", w),
                  Sample(metrics, absl::StrCat("overlapd_engine_queue_depth{worker=\"", w, "\"}")));
  }
  EXPECT_FALSE(FigureOf(dom, "depth:2").found) << "a worker that does not exist";
  for (double q : {0.5, 0.9, 0.99}) {
    const std::string key = absl::StrCat("p", std::lround(q * 100), ":read");
    const double want = Quantile(q, metrics, "read");
    ASSERT_TRUE(std::isfinite(want)) << key;
    EXPECT_NEAR(FigureOf(dom, key).value, want, want * 1e-9) << key;
  }
  // The job, finished, with its progress; its events in the tail.
  EXPECT_EQ(FigureOf(dom, absl::StrCat("job:", job, ":state")).text, "SUCCEEDED");
  EXPECT_EQ(FigureOf(dom, absl::StrCat("job:", job, ":progress")).value, 1);
  EXPECT_TRUE(absl::StrContains(dom, "nightly")) << "the job's label";
  EXPECT_TRUE(absl::StrContains(dom, ">COPY_COMPLETE<")) << "the job's event";

  // A screenshot for people to look at.
  const std::string dir = OVERLAPD_ARTIFACTS_DIR;
  RunCommand({"/bin/mkdir", "-p", dir});
  const std::string png = dir + "/status_page.png";
  ::unlink(png.c_str());
  CommandResult shot = Chromium(chromium, {"--window-size=1280,1100", "--screenshot=" + png});
  ASSERT_EQ(shot.exit_code, 0) << shot.err.substr(0, 4000);
  ASSERT_TRUE(PathExists(png)) << shot.err.substr(0, 4000);
  const std::string image = ReadFileOrDie(png);
  EXPECT_EQ(image.substr(0, 4), "\x89PNG");
  EXPECT_GT(image.size(), 10000u);
  std::cout << "status page screenshot: " << png << "\n";
}

TEST_F(StatusPageTest, TokensHidePathsAndOffRemovesThePage) {
  TempDir dir("overlapd-status-");
  WriteFileOrDie(dir.Join("tokens"), "aaaaaaaaaaaaaaaaaaaa read,write\n");
  ASSERT_NO_FATAL_FAILURE(StartServer({"--tokens", dir.Join("tokens")}));
  absl::StatusOr<HttpResponse> status = HttpGet(server_->metrics_port(), "/status.json");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->status, 200);
  EXPECT_TRUE(absl::StrContains(status->body, "\"redacted\":true")) << status->body;
  ASSERT_TRUE(server_->Stop().ok());

  ASSERT_NO_FATAL_FAILURE(StartServer({"--status-page", "off"}));
  for (const char* path : {"/", "/status.json"}) {
    absl::StatusOr<HttpResponse> r = HttpGet(server_->metrics_port(), path);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 404) << path;
  }
  absl::StatusOr<HttpResponse> metrics = HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->status, 200);  // positive control
}

}  // namespace
}  // namespace overlapd::itest
