// The harness's own checks: a broken oracle or a process helper that hides
// failures would make every other test pass for the wrong reason.
#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "tests/integration/server_harness.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

TEST(HarnessTest, SoftCrc32cMatchesKnownVectors) {
  // RFC 3720 B.4 and the usual check value.
  EXPECT_EQ(SoftCrc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(SoftCrc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(SoftCrc32c(std::string(32, '\xff')), 0x62A8AB43u);
  EXPECT_EQ(SoftCrc32c(""), 0u);
  // Continuation equals one pass, across the 8-byte fast path.
  const std::string data = RandomBytes(1000, 1);
  EXPECT_EQ(SoftCrc32c(data.substr(13), SoftCrc32c(data.substr(0, 13))), SoftCrc32c(data));
}

TEST(HarnessTest, RunCommandReportsExitCodeOutputAndTimeout) {
  CommandResult ok = RunCommand({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(ok.exit_code, 3);
  EXPECT_EQ(ok.out, "out\n");
  EXPECT_EQ(ok.err, "err\n");

  const auto start = std::chrono::steady_clock::now();
  CommandResult slow = RunCommand({"/bin/sleep", "30"}, std::chrono::milliseconds(300));
  EXPECT_EQ(slow.exit_code, -1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(HarnessTest, TempDirIsRemoved) {
  std::string path;
  {
    TempDir dir;
    path = dir.path();
    WriteFileOrDie(dir.Join("f"), "x");
    EXPECT_TRUE(PathExists(dir.Join("f")));
  }
  EXPECT_FALSE(PathExists(path));
}

TEST(HarnessTest, ServerStopsWithExitZeroAndItsDirectoryGoes) {
  std::string root;
  {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    root = (*server)->root();
    EXPECT_GT((*server)->grpc_port(), 0);
    EXPECT_GT((*server)->metrics_port(), 0);
    absl::StatusOr<ProcMemory> mem = (*server)->Memory();
    ASSERT_TRUE(mem.ok()) << mem.status();
    EXPECT_GT(mem->rss, 0u);
    EXPECT_GE(mem->peak_rss, mem->rss);
    absl::StatusOr<int> exit_status = (*server)->Stop();
    ASSERT_TRUE(exit_status.ok()) << exit_status.status();
    EXPECT_EQ(*exit_status, 0) << (*server)->Log();
  }
  EXPECT_FALSE(PathExists(root));
}

TEST(HarnessTest, BadFlagIsAStartError) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start({"--no-such-flag"});
  EXPECT_FALSE(server.ok());
}

}  // namespace
}  // namespace overlapd::itest
