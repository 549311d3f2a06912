// What operators see: the access log (one line per call, refusals and
// authentication failures at warn with their reason), logs on stderr, flag
// checks, process and build metrics checked by promtool, and the health
// service with tokens on.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include <grpcpp/client_context.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tests/integration/server_test.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

using std::chrono::seconds;

constexpr char kAliceToken[] = "a11ce0000000000000000000000000aa";    // read,write
constexpr char kReaderToken[] = "7eade7000000000000000000000000bb";  // read, prefix pub
constexpr char kNamelessToken[] = "00000000000000000000000000000ccc"; // read
constexpr char kUnknownToken[] = "ffffffffffffffffffffffffffffffff";

// The lines of `log` that contain every one of `parts`.
std::vector<std::string> LinesWith(const std::string& log, const std::vector<std::string>& parts) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    bool all = true;
    for (const std::string& p : parts) all = all && absl::StrContains(line, p);
    if (all) out.emplace_back(line);
  }
  return out;
}

// The number after "key=" in a key=value line, or -1.
int64_t Field(const std::string& line, const std::string& key) {
  const size_t at = line.find(" " + key + "=");
  if (at == std::string::npos) return -1;
  const size_t start = at + key.size() + 2;
  int64_t v = -1;
  absl::SimpleAtoi(line.substr(start, line.find(' ', start) - start), &v);
  return v;
}

// The value of the sample `name{labels}` in a /metrics text, or -1.
double Sample(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, series + " ")) continue;
    double v = -1;
    if (absl::SimpleAtod(line.substr(series.size() + 1), &v)) return v;
  }
  return -1;
}

class OperatorsTest : public ServerTest {
 protected:
  void StartWithTokens(const std::vector<std::string>& more = {}) {
    WriteFileOrDie(dir_.Join("tokens"),
                   absl::StrCat(kAliceToken, " read,write name=alice\n", kReaderToken,
                                " read pub name=reader\n", kNamelessToken, " read\n"));
    std::vector<std::string> flags = {"--tokens", dir_.Join("tokens")};
    flags.insert(flags.end(), more.begin(), more.end());
    ASSERT_NO_FATAL_FAILURE(StartServer(flags));
    ASSERT_EQ(::mkdir(server_->RootPath("pub").c_str(), 0755), 0);
    WriteFileOrDie(server_->RootPath("pub/a.txt"), "hello");
  }

  // Runs `batch` with Execute as `token` ("" for none): its status.
  grpc::Status Execute(const std::string& token, const v1::Batch& batch) {
    auto stub = server_->NewStub();
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    context.set_deadline(std::chrono::system_clock::now() + seconds(30));
    auto reader = stub->Execute(&context, batch);
    v1::EventBatch events;
    while (reader->Read(&events)) {
    }
    return reader->Finish();
  }

  std::string Metrics() {
    absl::StatusOr<HttpResponse> r = HttpGet(server_->metrics_port(), "/metrics");
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->body : "";
  }

  // Waits for a line with all `parts` in the server's output; returns it.
  std::string WaitForLine(const std::vector<std::string>& parts) {
    EXPECT_TRUE(server_->WaitForLog(parts.back(), seconds(10))) << parts.back();
    std::vector<std::string> lines = LinesWith(server_->Log(), parts);
    EXPECT_EQ(lines.size(), 1u) << absl::StrJoin(parts, " ");
    return lines.empty() ? "" : lines[0];
  }

  TempDir dir_{"overlapd-ops-"};
};

TEST_F(OperatorsTest, AccessLogHasALinePerCallWithItsFacts) {
  ASSERT_NO_FATAL_FAILURE(StartWithTokens({"--access-log-rate", "0"}));
  // OK: two ops, one of which fails at run time (the call is still OK).
  v1::Batch ok;
  *ok.add_ops() = ReadOp(1, "pub/a.txt");
  *ok.add_ops() = ReadOp(2, "pub/missing");
  ok.set_tag(101);
  ASSERT_TRUE(Execute(kAliceToken, ok).ok());
  std::string line = WaitForLine({"event=call", "token=alice", "code=OK", "failed_ops=1"});
  EXPECT_TRUE(absl::StrContains(line, " info access ")) << line;
  EXPECT_TRUE(absl::StrContains(line, "method=/overlapd.v1.IoService/Execute")) << line;
  // The peer is the client's address, not gRPC's "fd:N" of overlapd's listener.
  EXPECT_TRUE(absl::StrContains(line, "peer=ipv4:127.0.0.1:")) << line;
  EXPECT_EQ(Field(line, "ops"), 2) << line;
  EXPECT_EQ(Field(line, "batches"), 1) << line;
  EXPECT_GT(Field(line, "bytes_in"), 10) << line;
  EXPECT_GT(Field(line, "bytes_out"), 5) << line;  // "hello" came back
  EXPECT_TRUE(absl::StrContains(line, "duration_ms=")) << line;

  // Refused whole: a path outside the reader's prefix.
  v1::Batch outside;
  *outside.add_ops() = ReadOp(1, "secret/x");
  EXPECT_EQ(Execute(kReaderToken, outside).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  line = WaitForLine({"token=reader", "code=PERMISSION_DENIED", "reason=prefix"});
  EXPECT_TRUE(absl::StrContains(line, " warn access event=call")) << line;
  EXPECT_TRUE(absl::StrContains(line, "msg=\"ops[0].read.path: ")) << line;

  // A Session answers a refused batch and goes on: one warn line for it.
  {
    auto stub = server_->NewStub();
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", kReaderToken));
    auto stream = stub->Session(&context);
    v1::Batch read, write;
    read.set_tag(1);
    *read.add_ops() = ReadOp(1, "pub/a.txt");
    write.set_tag(2);
    *write.add_ops() = WriteOp(1, "pub/new.txt", "x");
    ASSERT_TRUE(stream->Write(read));
    ASSERT_TRUE(stream->Write(write));
    stream->WritesDone();
    v1::EventBatch events;
    while (stream->Read(&events)) {
    }
    ASSERT_TRUE(stream->Finish().ok());
  }
  line = WaitForLine({"event=batch_refused", "reason=scope"});
  EXPECT_TRUE(absl::StrContains(line, " warn access ")) << line;
  EXPECT_TRUE(absl::StrContains(line, "token=reader code=PERMISSION_DENIED")) << line;
  EXPECT_EQ(Field(line, "batch_tag"), 2) << line;
  line = WaitForLine({"IoService/Session", "event=call", "refused_batches=1"});
  EXPECT_EQ(Field(line, "batches"), 2) << line;
  EXPECT_TRUE(absl::StrContains(line, "code=OK")) << line;

  // Not authenticated: an unknown token, and none at all.
  v1::Batch hello;
  *hello.add_ops() = ReadOp(1, "pub/a.txt");
  EXPECT_EQ(Execute(kUnknownToken, hello).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  line = WaitForLine({"token=unknown", "code=UNAUTHENTICATED", "reason=unknown_token"});
  EXPECT_TRUE(absl::StrContains(line, " warn access ")) << line;
  EXPECT_EQ(Execute("", hello).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  WaitForLine({"token=- ", "reason=missing_token"});

  // A failed call: info, with its code and message. A token without a name
  // is shown by its fingerprint.
  {
    auto stub = server_->NewStub();
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", kNamelessToken));
    v1::GetJobRequest request;
    request.set_id(424242);
    v1::Job job;
    EXPECT_EQ(stub->GetJob(&context, request, &job).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  line = WaitForLine({"IoService/GetJob", "code=NOT_FOUND"});
  EXPECT_TRUE(absl::StrContains(line, " info access ")) << line;
  EXPECT_TRUE(absl::StrContains(line, "token=sha256:")) << line;
  EXPECT_TRUE(absl::StrContains(line, "msg=\"job 424242 not found")) << line;

  // No token ever reaches the log.
  const std::string log = server_->Log();
  for (const char* token : {kAliceToken, kReaderToken, kNamelessToken, kUnknownToken}) {
    EXPECT_FALSE(absl::StrContains(log, token)) << token;
  }
  // The metrics count the same calls and refusals.
  const std::string metrics = Metrics();
  const std::string rpcs = "overlapd_rpcs_total{code=\"";
  EXPECT_EQ(Sample(metrics, rpcs + "PERMISSION_DENIED\",method=\"overlapd.v1.IoService/Execute\"}"), 1);
  EXPECT_EQ(Sample(metrics, rpcs + "UNAUTHENTICATED\",method=\"overlapd.v1.IoService/Execute\"}"), 2);
  EXPECT_EQ(Sample(metrics, rpcs + "NOT_FOUND\",method=\"overlapd.v1.IoService/GetJob\"}"), 1);
  EXPECT_EQ(Sample(metrics, "overlapd_batches_refused_total{reason=\"prefix\"}"), 1);
  EXPECT_EQ(Sample(metrics, "overlapd_batches_refused_total{reason=\"scope\"}"), 1);
  EXPECT_EQ(Sample(metrics, "overlapd_batches_refused_total{reason=\"unknown_token\"}"), 1);
  EXPECT_EQ(Sample(metrics, "overlapd_auth_failures_total{reason=\"unknown_token\"}"), 1);
  EXPECT_EQ(Sample(metrics, "overlapd_auth_failures_total{reason=\"missing_token\"}"), 1);
  EXPECT_EQ(Sample(metrics, "overlapd_auth_failures_total{reason=\"prefix\"}"), 1);
  EXPECT_EQ(Sample(metrics, "overlapd_auth_failures_total{reason=\"scope\"}"), 1);
}

TEST_F(OperatorsTest, AccessLogRateCountsEveryLineItDrops) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--access-log-rate", "1"}));
  constexpr int kCalls = 30;
  auto stub = server_->NewStub();
  for (int i = 0; i < kCalls; ++i) {
    grpc::ClientContext context;
    v1::Capabilities caps;
    ASSERT_TRUE(stub->GetCapabilities(&context, {}, &caps).ok());
  }
  // Every call is either written or counted; at 1 line a second, 30 calls
  // in a row cannot all be written.
  const double suppressed = Sample(Metrics(), "overlapd_access_log_suppressed_total");
  ASSERT_TRUE(server_->WaitForLog("IoService/GetCapabilities", seconds(10)));
  const size_t written = LinesWith(server_->Log(), {"IoService/GetCapabilities"}).size();
  EXPECT_GT(suppressed, 0);
  EXPECT_GE(written, 1u);
  EXPECT_EQ(written + static_cast<size_t>(suppressed), static_cast<size_t>(kCalls));
}

TEST_F(OperatorsTest, JsonLogLinesAndDebugHealthChecks) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--log-format", "json", "--log-level", "debug"}));
  CommandResult health = server_->RunCli({"health"}, seconds(30));
  EXPECT_EQ(health.exit_code, 0) << health.err;
  EXPECT_EQ(health.out, "SERVING\n");
  ASSERT_TRUE(server_->WaitForLog("grpc.health.v1.Health/Check", seconds(10)));
  absl::StatusOr<int> exit = server_->Stop();
  ASSERT_TRUE(exit.ok()) << exit.status();
  int objects = 0;
  bool health_at_debug = false;
  for (absl::string_view line : absl::StrSplit(server_->Log(), '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "overlapd ready ")) continue;  // stdout, merged here
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(j.is_object()) << "not JSON: " << line;
    ASSERT_TRUE(j.contains("ts") && j.contains("level")) << line;
    ++objects;
    if (j.value("log", "") == "access" && j.value("method", "") == "/grpc.health.v1.Health/Check") {
      health_at_debug = j["level"] == "debug" && j["code"] == "OK";
    }
  }
  EXPECT_GE(objects, 3);
  EXPECT_TRUE(health_at_debug);
}

TEST_F(OperatorsTest, HealthAnswersForTheServiceAlsoWithTokens) {
  ASSERT_NO_FATAL_FAILURE(StartWithTokens());
  for (const char* service : {"", "overlapd.v1.IoService"}) {
    CommandResult r = server_->RunCli({"health", "--service", service}, seconds(30));
    EXPECT_EQ(r.exit_code, 0) << service << ": " << r.err;
    EXPECT_EQ(r.out, "SERVING\n") << service;
  }
  // Positive control: a service overlapd does not serve is not SERVING.
  CommandResult r = server_->RunCli({"health", "--service", "no.such.Service"}, seconds(30));
  EXPECT_NE(r.exit_code, 0);
  // While `caps` needs the token.
  EXPECT_NE(server_->RunCli({"caps"}, seconds(30)).exit_code, 0);
}

TEST_F(OperatorsTest, MetricsHaveProcessBuildAndRpcFamiliesThatPromtoolAccepts) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  WriteFileOrDie(server_->RootPath("f"), "data");
  auto stub = server_->NewStub();
  v1::Batch twice;
  *twice.add_ops() = ReadOp(1, "f");
  ASSERT_TRUE(RunExecute(*stub, twice).status.ok());
  ASSERT_TRUE(RunExecute(*stub, twice).status.ok());
  const std::string text = Metrics();
  for (const char* name : {"process_cpu_seconds_total ", "process_resident_memory_bytes ",
                           "process_open_fds ", "process_max_fds ", "process_start_time_seconds ",
                           "overlapd_root_free_bytes ", "overlapd_root_free_inodes ",
                           "overlapd_engine_queue_capacity "}) {
    EXPECT_TRUE(absl::StrContains(text, std::string("\n") + name)) << name;
  }
  EXPECT_GT(Sample(text, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GT(Sample(text, "process_open_fds"), 3);
  EXPECT_GT(Sample(text, "process_start_time_seconds"), 1.6e9);
  EXPECT_GE(Sample(text, "overlapd_fd_cache_hits_total"), 1);  // the second read
  EXPECT_GE(Sample(text, "overlapd_fd_cache_misses_total"), 1);  // the first
  EXPECT_TRUE(absl::StrContains(text, "overlapd_build_info{commit=\"")) << text.substr(0, 2000);
  EXPECT_TRUE(absl::StrContains(text, ",version=\"0.1.0\"} 1"));
  EXPECT_TRUE(absl::StrContains(text, "overlapd_engine_info{backend=\""));
  EXPECT_EQ(Sample(text, "overlapd_rpcs_total{code=\"OK\",method=\"overlapd.v1.IoService/Execute\"}"), 2);
  EXPECT_TRUE(absl::StrContains(text, "overlapd_rpc_duration_seconds_bucket{method=\"overlapd.v1.IoService/Execute\",le=\"0.001\"}"));

  const std::string promtool = "/usr/bin/promtool";
  if (::access(promtool.c_str(), X_OK) != 0) {
    GTEST_SKIP() << promtool << " not installed (Debian package `prometheus`, installed by "
                 << "scripts/deps.sh --test)";
  }
  const std::string file = dir_.Join("metrics.txt");
  WriteFileOrDie(file, text);
  CommandResult check = RunCommand({"/bin/sh", "-c", promtool + " check metrics < " + file});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  // Positive control: promtool does complain about a bad family.
  WriteFileOrDie(file, "# TYPE bad_counter counter\nbad_counter 1\n");
  check = RunCommand({"/bin/sh", "-c", promtool + " check metrics < " + file});
  EXPECT_NE(check.exit_code, 0) << "promtool accepted a counter without _total";
}

// Flags an operator can get wrong are refused with a message naming them.
TEST(OperatorFlagsTest, BadLevelsFormatsAndAddressesAreRefused) {
  TempDir dir("overlapd-flags-");
  const std::string overlapd = BinDir() + "/overlapd";
  const std::vector<std::string> base = {overlapd, "--root", dir.Join("root")};
  struct Case {
    std::vector<std::string> flags;
    const char* message;
  };
  const Case cases[] = {
      {{"--log-level", "WARN"}, "--log-level: WARN not in"},
      {{"--log-level", "verbose"}, "--log-level: verbose not in"},
      {{"--log-format", "xml"}, "--log-format: xml not in"},
      {{"--listen", "127.0.0.1:99999"}, "--listen: 127.0.0.1:99999: port 99999 is not in 0..65535"},
      {{"--listen", "127.0.0.1"}, "expected HOST:PORT"},
      {{"--metrics-listen", "0.0.0.0:70000"}, "port 70000 is not in 0..65535"},
      {{"--metrics-listen", "::1:9464"}, "an IPv6 address goes in brackets"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = base;
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    CommandResult r = RunCommand(argv, seconds(30));
    EXPECT_NE(r.exit_code, 0) << c.flags[1];
    EXPECT_TRUE(absl::StrContains(r.err, c.message)) << c.flags[1] << ": " << r.err;
    EXPECT_EQ(r.out, "") << "nothing may listen: " << r.out;
  }
  // Positive control: --version answers, without --root.
  CommandResult version = RunCommand({overlapd, "--version"}, seconds(30));
  EXPECT_EQ(version.exit_code, 0) << version.err;
  EXPECT_TRUE(absl::StartsWith(version.out, "overlapd 0.1.0 (commit ")) << version.out;
}

// stdout carries the ready line and nothing else; the logs go to stderr.
TEST(OperatorLogsTest, StdoutHasOnlyTheReadyLine) {
  TempDir dir("overlapd-stdout-");
  const std::string err = dir.Join("stderr");
  const std::string cmd = absl::StrCat("exec ", BinDir(), "/overlapd --root ", dir.Join("root"),
                                       " --listen 127.0.0.1:0 --metrics-listen '' 2>", err);
  absl::StatusOr<std::unique_ptr<Subprocess>> p = Subprocess::Spawn({"/bin/sh", "-c", cmd});
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE((*p)->WaitForOutput("overlapd ready", seconds(15))) << (*p)->Output();
  ASSERT_TRUE((*p)->WaitForOutput("\n", seconds(5)));
  const std::string ready = (*p)->Output();
  const std::string address = ready.substr(ready.find("grpc=") + 5,
                                           ready.find(' ', ready.find("grpc=")) - ready.find("grpc=") - 5);
  CommandResult caps = RunCommand({BinDir() + "/overlap", "--server", address, "caps"}, seconds(30));
  EXPECT_EQ(caps.exit_code, 0) << caps.err;
  (*p)->Signal(SIGTERM);
  absl::StatusOr<int> exit = (*p)->Wait(seconds(40));
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(*exit, 0);
  EXPECT_EQ((*p)->Output(), absl::StrCat("overlapd ready grpc=", address, " metrics=off\n"));
  const std::string log = ReadFileOrDie(err);
  EXPECT_TRUE(absl::StrContains(log, " info overlapd 0.1.0 serving ")) << log;
  EXPECT_TRUE(absl::StrContains(log, "access event=call")) << log;
  EXPECT_TRUE(absl::StrContains(log, " info stopped")) << log;
}

}  // namespace
}  // namespace overlapd::itest
