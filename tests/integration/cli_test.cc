// The `overlap` CLI as a user runs it: a subprocess against a real server.
#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "tests/integration/server_test.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kBigFile = 256ull << 20;

class CliTest : public ServerTest {};

TEST_F(CliTest, PutThenGet256MiBIsByteIdentical) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const std::string local = server_->ScratchPath("big.in");
  const std::string back = server_->ScratchPath("big.out");
  ASSERT_NO_FATAL_FAILURE(WriteRandomFile(local, kBigFile, 0xB16F11E));

  Clock::time_point start = Clock::now();
  CommandResult put = server_->RunCli({"put", local, "big.bin"});
  const double put_s = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_EQ(put.exit_code, 0) << put.err;
  // What the server wrote, checked on its disk.
  EXPECT_EQ(CompareFiles(local, server_->RootPath("big.bin")), "");

  start = Clock::now();
  CommandResult get = server_->RunCli({"get", "big.bin", back});
  const double get_s = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(CompareFiles(local, back), "");

  RecordProperty("put_seconds", std::to_string(put_s));
  RecordProperty("get_seconds", std::to_string(get_s));
  std::printf("put 256 MiB: %.2f s, get 256 MiB: %.2f s\n", put_s, get_s);
}

TEST_F(CliTest, ReadOfMissingFileFailsWithNotFound) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  CommandResult read = server_->RunCli({"read", "missing.txt"}, std::chrono::seconds(30));
  EXPECT_EQ(read.exit_code, 1) << read.err;  // 1: the command failed
  EXPECT_NE(read.err.find("NOT_FOUND"), std::string::npos) << read.err;
  EXPECT_NE(read.err.find("missing.txt"), std::string::npos) << read.err;

  // And the success path of the same command, so the check above is not
  // just "read always fails".
  WriteFileOrDie(server_->RootPath("present.txt"), "hello\n");
  CommandResult ok = server_->RunCli({"read", "present.txt"}, std::chrono::seconds(30));
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("READ_COMPLETE"), std::string::npos) << ok.out;
}

TEST(CliUsageTest, HelpExitsZeroAndUsageErrorExitsTwo) {
  CommandResult help = RunCommand({BinDir() + "/overlap", "--help"}, std::chrono::seconds(30));
  EXPECT_EQ(help.exit_code, 0) << help.err;
  for (const char* word : {"put", "get", "read", "caps"}) {
    EXPECT_NE(help.out.find(word), std::string::npos) << "no '" << word << "' in:\n" << help.out;
  }
  CommandResult bad = RunCommand({BinDir() + "/overlap", "no-such-command"},
                                 std::chrono::seconds(30));
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("INVALID_ARGUMENT"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace overlapd::itest
