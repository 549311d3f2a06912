// deploy/seccomp/overlapd.json, applied as a container runtime would (by
// tests/deploy/seccomp_exec.py, through libseccomp): overlapd runs its
// io_uring engine under it and serves, the overlap CLI (the image's health
// check) works under it; and the same profile without the io_uring
// syscalls, like the runtimes' defaults, makes overlapd fall back to
// threads, saying why in its log and in overlapd_engine_info.
#include <signal.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/server_harness.h"
#include "tests/integration/test_util.h"

#ifndef OVERLAPD_SOURCE_DIR
#error "OVERLAPD_SOURCE_DIR must be defined by CMake"
#endif

namespace overlapd::itest {
namespace {

using std::chrono::seconds;

const std::string kPython = "/usr/bin/python3";
const std::string kIoUring = "io_uring_setup,io_uring_enter,io_uring_register";

std::string Profile() { return std::string(OVERLAPD_SOURCE_DIR) + "/deploy/seccomp/overlapd.json"; }
std::string Launcher() {
  return std::string(OVERLAPD_SOURCE_DIR) + "/tests/deploy/seccomp_exec.py";
}

// `argv` under the profile, less the syscalls in `drop` ("" for none).
std::vector<std::string> Confined(const std::vector<std::string>& argv, const std::string& drop) {
  std::vector<std::string> out = {kPython, Launcher(), Profile()};
  if (!drop.empty()) out.insert(out.end(), {"--drop", drop});
  out.push_back("--");
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

// A value of the "overlapd ready grpc=A metrics=B" line.
std::string ReadyField(const std::string& output, const std::string& key) {
  const size_t at = output.find(key + "=", output.find("overlapd ready"));
  if (at == std::string::npos) return "";
  const size_t start = at + key.size() + 1;
  return output.substr(start, output.find_first_of(" \n", start) - start);
}

class SeccompTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CommandResult probe = RunCommand({kPython, "-c", "import seccomp"}, seconds(30));
    if (probe.exit_code != 0) {
      GTEST_SKIP() << "python3-seccomp not installed (libseccomp's Python binding; "
                   << "scripts/deps.sh --test installs it): " << probe.err;
    }
  }

  // Starts overlapd under the profile (less `drop`) with `engine`; waits
  // for its ready line.
  void StartConfined(const std::string& drop, const std::string& engine) {
    absl::StatusOr<std::unique_ptr<Subprocess>> p = Subprocess::Spawn(Confined(
        {BinDir() + "/overlapd", "--root", dir_.Join("root"), "--listen", "127.0.0.1:0",
         "--metrics-listen", "127.0.0.1:0", "--engine", engine},
        drop));
    ASSERT_TRUE(p.ok()) << p.status();
    server_ = *std::move(p);
    ASSERT_TRUE(server_->WaitForOutput("metrics=", seconds(20))) << server_->Output();
    ASSERT_TRUE(server_->WaitForOutput("\n", seconds(5)));
    grpc_ = ReadyField(server_->Output(), "grpc");
    metrics_port_ = std::stoi(ReadyField(server_->Output(), "metrics").substr(10));
  }

  // The overlap CLI under the same profile.
  CommandResult Cli(const std::vector<std::string>& args, const std::string& drop = "") {
    std::vector<std::string> argv = {BinDir() + "/overlap", "--server", grpc_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(Confined(argv, drop), seconds(60));
  }

  // put, cat back, a server-side copy: real IO through the engine.
  void RoundTrip() {
    const std::string data = RandomBytes(3 << 20, 7);
    WriteFileOrDie(dir_.Join("local"), data);
    CommandResult put = Cli({"put", dir_.Join("local"), "big.bin"});
    ASSERT_EQ(put.exit_code, 0) << put.err;
    CommandResult cat = Cli({"cat", "big.bin"});
    ASSERT_EQ(cat.exit_code, 0) << cat.err;
    EXPECT_TRUE(cat.out == data) << "cat returned " << cat.out.size() << " bytes";
    CommandResult cp = Cli({"cp", "big.bin", "copy.bin"});
    EXPECT_EQ(cp.exit_code, 0) << cp.err;
    CommandResult health = Cli({"health", "--service", "overlapd.v1.IoService"});
    EXPECT_EQ(health.exit_code, 0) << health.err;
    EXPECT_EQ(health.out, "SERVING\n");
  }

  std::string Metrics() {
    absl::StatusOr<HttpResponse> r = HttpGet(metrics_port_, "/metrics");
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->body : "";
  }

  void StopServer() {
    server_->Signal(SIGTERM);
    absl::StatusOr<int> exit = server_->Wait(seconds(40));
    ASSERT_TRUE(exit.ok()) << exit.status();
    EXPECT_EQ(*exit, 0) << server_->Output();
  }

  TempDir dir_{"overlapd-seccomp-"};
  std::unique_ptr<Subprocess> server_;
  std::string grpc_;
  int metrics_port_ = 0;
};

TEST_F(SeccompTest, IoUringRunsUnderTheProfile) {
  // --engine uring: no fallback allowed, start-up fails if the ring cannot.
  ASSERT_NO_FATAL_FAILURE(StartConfined("", "uring"));
  ASSERT_NO_FATAL_FAILURE(RoundTrip());
  const std::string metrics = Metrics();
  EXPECT_TRUE(absl::StrContains(metrics, "overlapd_engine_info{backend=\"uring\",fallback_reason=\"\"} 1"))
      << metrics.substr(0, 3000);
  EXPECT_TRUE(absl::StrContains(metrics, "overlapd_ops_total{op=\"copy\",result=\"ok\"} 1"));
  ASSERT_NO_FATAL_FAILURE(StopServer());
  EXPECT_FALSE(absl::StrContains(server_->Output(), "falling back")) << server_->Output();
}

TEST_F(SeccompTest, WithoutIoUringTheEngineFallsBackAndSaysWhy) {
  // Positive control: the filter is in force (the ring is refused)...
  CommandResult strict = RunCommand(
      Confined({BinDir() + "/overlapd", "--root", dir_.Join("root"), "--listen", "127.0.0.1:0",
                "--metrics-listen", "", "--engine", "uring"},
               kIoUring),
      seconds(60));
  EXPECT_NE(strict.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(strict.err, "Operation not permitted")) << strict.err;
  // ...and with --engine auto overlapd serves on threads, and says why.
  ASSERT_NO_FATAL_FAILURE(StartConfined(kIoUring, "auto"));
  EXPECT_TRUE(absl::StrContains(server_->Output(),
                                " warn engine: falling back to threads: io_uring unavailable: "))
      << server_->Output();
  EXPECT_TRUE(absl::StrContains(server_->Output(), "a seccomp profile that blocks io_uring"));
  ASSERT_NO_FATAL_FAILURE(RoundTrip());
  const std::string metrics = Metrics();
  EXPECT_TRUE(absl::StrContains(metrics, "overlapd_engine_info{backend=\"threads\",fallback_reason=\""
                                         "io_uring_queue_init(256): Operation not permitted"))
      << metrics.substr(0, 3000);
  EXPECT_TRUE(absl::StrContains(metrics, "engine=\"threads\""));
  ASSERT_NO_FATAL_FAILURE(StopServer());
}

}  // namespace
}  // namespace overlapd::itest
