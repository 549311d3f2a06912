#include "service/startup.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "ioengine/scratch_dir.h"

namespace overlapd {
namespace {

namespace fs = std::filesystem;

class StartupTest : public ::testing::Test {
 protected:
  ScratchDir scratch_{"overlapd-startup"};
  const fs::path dir_ = scratch_.path();
};

TEST_F(StartupTest, StateDirDefaultsBesideTheRootAndKeepsItsKey) {
  ServerConfig config;
  config.root = (dir_ / "data/").string();
  absl::StatusOr<io::TempNamer> first = OpenStateDir(config);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(config.state_dir, (dir_ / "data.state").string());
  EXPECT_TRUE(fs::is_directory(config.state_dir));
  // The same directory gives back the same key: names minted before a
  // restart are still recognised after it.
  ServerConfig again = config;
  absl::StatusOr<io::TempNamer> second = OpenStateDir(again);
  ASSERT_TRUE(second.ok()) << second.status();
  const std::string name = first->Mint("f", io::TempKind::kAtomic);
  EXPECT_TRUE(second->Proves(name, io::TempKind::kAtomic)) << name;
}

TEST_F(StartupTest, StateDirInsideTheRootIsRefused) {
  for (const std::string inside : {"data/state", "data/./x/../state", "data"}) {
    ServerConfig config;
    config.root = (dir_ / "data").string();
    config.state_dir = (dir_ / inside).string();
    absl::StatusOr<io::TempNamer> opened = OpenStateDir(config);
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument) << inside;
    EXPECT_NE(opened.status().message().find("--state-dir"), std::string::npos);
  }
  ServerConfig beside;  // positive control: a sibling that shares a prefix
  beside.root = (dir_ / "data").string();
  beside.state_dir = (dir_ / "data-state").string();
  EXPECT_TRUE(OpenStateDir(beside).ok());
}

TEST_F(StartupTest, OpenRootCreatesTheDirectoryAndRefusesAFile) {
  absl::StatusOr<int> fd = OpenRoot((dir_ / "a/b").string());
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_TRUE(fs::is_directory(dir_ / "a/b"));
  close(*fd);
  std::ofstream(dir_ / "file") << "x";
  absl::StatusOr<int> not_dir = OpenRoot((dir_ / "file").string());
  EXPECT_EQ(not_dir.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(not_dir.status().message().find("--root"), std::string::npos);
}

TEST_F(StartupTest, FileLimitKeepsAReserveForConnections) {
  struct rlimit before;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &before), 0);
  if (before.rlim_max < 512) GTEST_SKIP() << "hard RLIMIT_NOFILE below 512";
  ServerConfig config;
  config.max_open_files = 512;
  config.engine_options.fd_cache_entries = 16384;
  RaiseFileLimit(config);
  struct rlimit after;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_EQ(after.rlim_cur, 512u);
  EXPECT_EQ(config.engine_options.max_open_files, 512u - 128u);  // a quarter kept back
  // The cache takes three quarters of the engine's share.
  EXPECT_EQ(config.engine_options.fd_cache_entries, (512u - 128u) / 4 * 3);
  setrlimit(RLIMIT_NOFILE, &before);
}

TEST(HostOfTest, DropsThePort) {
  EXPECT_EQ(HostOf("127.0.0.1:50051"), "127.0.0.1");
  EXPECT_EQ(HostOf("[::1]:0"), "[::1]");
  EXPECT_EQ(HostOf("noport"), "noport");
}

}  // namespace
}  // namespace overlapd
