#include "ioengine/dir_snapshot.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "ioengine/scratch_dir.h"

namespace overlapd::io {
namespace {

namespace fs = std::filesystem;

int64_t RealtimeNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// A clock 10 s ahead: every directory looks settled. Only for tests that do
// not change a directory after its snapshot.
int64_t FutureNs() { return RealtimeNs() + 10'000'000'000; }

void Touch(const fs::path& p) {
  int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << p;
  close(fd);
}

std::vector<std::string> Names(const DirSnapshot& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size(); ++i) out.emplace_back(s.name(i));
  return out;
}

class DirSnapshotTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (int fd : fds_) close(fd);
  }
  // Opens (creating if needed) a directory below the test's own.
  int OpenDir(const std::string& rel) {
    fs::create_directories(dir_ / rel);
    int fd = open((dir_ / rel).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    EXPECT_GE(fd, 0);
    fds_.push_back(fd);
    return fd;
  }
  // Waits until the cache's own rule says the directory has settled: the
  // condition is polled, no fixed sleep stands in for it.
  void WaitSettled(int fd) {
    for (int i = 0; i < 500; ++i) {
      struct stat sb;
      ASSERT_EQ(fstat(fd, &sb), 0);
      if (DirSnapshotCache::Settled(sb, RealtimeNs())) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "directory never settled";
  }

  ScratchDir scratch_{"overlapd-dirsnap"};
  const fs::path dir_ = scratch_.path();
  std::vector<int> fds_;
};

TEST(DirSnapshotOfTest, SortsAndFindsWherePagesStart) {
  auto s = DirSnapshot::Of({"b", "a", "c10", "c1", ""});
  EXPECT_EQ(Names(*s), (std::vector<std::string>{"", "a", "b", "c1", "c10"}));
  EXPECT_EQ(s->UpperBound(""), 1u);
  EXPECT_EQ(s->UpperBound("a"), 2u);
  EXPECT_EQ(s->UpperBound("aa"), 2u);  // not a name: the next one
  EXPECT_EQ(s->UpperBound("c1"), 4u);
  EXPECT_EQ(s->UpperBound("z"), 5u);
  EXPECT_EQ(DirSnapshot::Of({})->UpperBound("a"), 0u);
}

// 5,000 names take several getdents64 calls; "." and ".." are left out.
TEST_F(DirSnapshotTest, ReadsEveryNameSorted) {
  int fd = OpenDir("d");
  std::vector<std::string> want;
  for (int i = 0; i < 5000; ++i) {
    want.push_back(std::string("file-").append(std::to_string(i * 7919 % 5000)));
    Touch(dir_ / "d" / want.back());
  }
  fs::create_directory(dir_ / "d" / "sub");
  want.push_back("sub");
  std::sort(want.begin(), want.end());
  std::shared_ptr<const DirSnapshot> s;
  ASSERT_EQ(DirSnapshot::Read(fd, &s), 0);
  EXPECT_EQ(Names(*s), want);
  // Read again from the same fd (its position is at the end now).
  ASSERT_EQ(DirSnapshot::Read(fd, &s), 0);
  EXPECT_EQ(s->size(), want.size());
}

TEST_F(DirSnapshotTest, SettledDirectoryIsServedFromTheCache) {
  int fd = OpenDir("d");
  Touch(dir_ / "d" / "a");
  WaitSettled(fd);
  DirSnapshotCache cache({});
  std::shared_ptr<const DirSnapshot> first, second;
  ASSERT_EQ(cache.Get(fd, &first), 0);
  ASSERT_EQ(cache.Get(fd, &second), 0);
  EXPECT_EQ(first.get(), second.get());
  DirSnapshotCache::Stats st = cache.stats();
  EXPECT_EQ(st.misses, 1u);
  EXPECT_EQ(st.hits, 1u);
  EXPECT_EQ(st.snapshots, 1u);
  EXPECT_EQ(st.bytes, first->bytes());
  // The same directory through another fd (another path) is the same entry.
  int fd2 = open((dir_ / "d" / ".").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd2, 0);
  fds_.push_back(fd2);
  ASSERT_EQ(cache.Get(fd2, &second), 0);
  EXPECT_EQ(first.get(), second.get());
}

// A new name, a removed one and a rename each change the directory's
// version: the next Get reads it again. Each change is made after the
// directory settled, so its ctime must differ from the cached one.
TEST_F(DirSnapshotTest, ChangesToEntriesInvalidate) {
  int fd = OpenDir("d");
  Touch(dir_ / "d" / "a");
  DirSnapshotCache cache({});
  std::shared_ptr<const DirSnapshot> s;
  const std::vector<std::pair<std::string, std::function<void()>>> steps = {
      {"add", [&] { Touch(dir_ / "d" / "b"); }},
      {"remove", [&] { fs::remove(dir_ / "d" / "a"); }},
      {"rename", [&] { fs::rename(dir_ / "d" / "b", dir_ / "d" / "c"); }},
  };
  const std::vector<std::vector<std::string>> want = {{"a", "b"}, {"b"}, {"c"}};
  for (size_t i = 0; i < steps.size(); ++i) {
    WaitSettled(fd);
    ASSERT_EQ(cache.Get(fd, &s), 0);
    ASSERT_EQ(cache.Get(fd, &s), 0);  // cached: a hit
    const uint64_t hits = cache.stats().hits;
    EXPECT_EQ(hits, i + 1) << steps[i].first;
    steps[i].second();
    ASSERT_EQ(cache.Get(fd, &s), 0);
    EXPECT_EQ(cache.stats().hits, hits) << steps[i].first << ": served a stale snapshot";
    EXPECT_EQ(Names(*s), want[i]) << steps[i].first;
  }
}

// The safety rule's own check: a directory whose ctime is not older than
// the settle time is read afresh every time and never cached.
TEST_F(DirSnapshotTest, RecentlyChangedDirectoryIsNotCached) {
  int fd = OpenDir("d");
  Touch(dir_ / "d" / "a");
  struct stat sb;
  ASSERT_EQ(fstat(fd, &sb), 0);
  const int64_t ctime_ns = static_cast<int64_t>(sb.st_ctim.tv_sec) * 1'000'000'000 +
                           sb.st_ctim.tv_nsec;
  DirSnapshotCache frozen({.now_ns = [&] { return ctime_ns + 1; }});
  std::shared_ptr<const DirSnapshot> s;
  ASSERT_EQ(frozen.Get(fd, &s), 0);
  ASSERT_EQ(frozen.Get(fd, &s), 0);
  EXPECT_EQ(Names(*s), std::vector<std::string>{"a"});
  DirSnapshotCache::Stats st = frozen.stats();
  EXPECT_EQ(st.hits, 0u);
  EXPECT_EQ(st.unsettled, 2u);
  EXPECT_EQ(st.snapshots, 0u);
  // Positive control: the same directory, seen 10 s later, is cached.
  DirSnapshotCache later({.now_ns = FutureNs});
  ASSERT_EQ(later.Get(fd, &s), 0);
  ASSERT_EQ(later.Get(fd, &s), 0);
  EXPECT_EQ(later.stats().hits, 1u);
}

TEST_F(DirSnapshotTest, BoundedByBytesAndCount) {
  std::vector<int> fds;
  for (int d = 0; d < 4; ++d) {
    const std::string name = std::string("d").append(std::to_string(d));
    fds.push_back(OpenDir(name));
    for (int i = 0; i < 100; ++i) {
      Touch(dir_ / name / std::string("name-").append(std::to_string(i)));
    }
  }
  std::shared_ptr<const DirSnapshot> s;
  ASSERT_EQ(DirSnapshot::Read(fds[0], &s), 0);
  const size_t one = s->bytes();  // every directory here is the same size
  // Room for two snapshots, not three.
  DirSnapshotCache cache({.max_bytes = 2 * one + one / 2, .now_ns = FutureNs});
  for (int fd : fds) ASSERT_EQ(cache.Get(fd, &s), 0);
  DirSnapshotCache::Stats st = cache.stats();
  EXPECT_EQ(st.snapshots, 2u);
  EXPECT_LE(st.bytes, 2 * one + one / 2);
  EXPECT_EQ(st.evictions, 2u);
  // Least recently used went first: d2 and d3 are held, d0 is not.
  ASSERT_EQ(cache.Get(fds[3], &s), 0);
  ASSERT_EQ(cache.Get(fds[2], &s), 0);
  EXPECT_EQ(cache.stats().hits, 2u);
  ASSERT_EQ(cache.Get(fds[0], &s), 0);
  EXPECT_EQ(cache.stats().hits, 2u);
  // ...and d3 (now the oldest) made room for it.
  ASSERT_EQ(cache.Get(fds[3], &s), 0);
  EXPECT_EQ(cache.stats().hits, 2u);

  // A snapshot larger than the whole bound is served, never cached.
  DirSnapshotCache small({.max_bytes = one - 1, .now_ns = FutureNs});
  ASSERT_EQ(small.Get(fds[0], &s), 0);
  EXPECT_EQ(s->size(), 100u);
  EXPECT_EQ(small.stats().snapshots, 0u);
  EXPECT_EQ(small.stats().bytes, 0u);

  // The count bound alone.
  DirSnapshotCache one_dir({.max_snapshots = 1, .now_ns = FutureNs});
  for (int fd : fds) ASSERT_EQ(one_dir.Get(fd, &s), 0);
  EXPECT_EQ(one_dir.stats().snapshots, 1u);
  EXPECT_EQ(one_dir.stats().evictions, 3u);
}

TEST_F(DirSnapshotTest, ErrorsAreNegativeErrno) {
  DirSnapshotCache cache({});
  std::shared_ptr<const DirSnapshot> s;
  EXPECT_EQ(cache.Get(-1, &s), -EBADF);
  int file = open((dir_ / "f").c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(file, 0);
  fds_.push_back(file);
  EXPECT_EQ(cache.Get(file, &s), -ENOTDIR);
}

}  // namespace
}  // namespace overlapd::io
