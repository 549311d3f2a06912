#include "ioengine/fd_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"

namespace overlapd::io {
namespace {

std::shared_ptr<File> OpenDevNull() {
  return std::make_shared<File>(open("/dev/null", O_RDONLY | O_CLOEXEC));
}

TEST(FdCacheTest, EvictsLeastRecentlyUsed) {
  FdCache cache(2, 1'000'000'000);
  cache.Put("a", OpenDevNull(), 0, cache.generation());
  cache.Put("b", OpenDevNull(), 0, cache.generation());
  ASSERT_NE(cache.Get("a", 1), nullptr);  // a is now the most recent
  cache.Put("c", OpenDevNull(), 2, cache.generation());
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Get("b", 3), nullptr);
  EXPECT_NE(cache.Get("a", 3), nullptr);
  EXPECT_NE(cache.Get("c", 3), nullptr);
}

TEST(FdCacheTest, EntriesExpire) {
  FdCache cache(4, 100);
  cache.Put("a", OpenDevNull(), 1000, cache.generation());
  EXPECT_NE(cache.Get("a", 1050), nullptr);
  EXPECT_EQ(cache.Get("a", 1200), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(FdCacheTest, EvictionNeverClosesAFileInUse) {
  FdCache cache(1, 1'000'000'000);
  cache.Put("a", OpenDevNull(), 0, cache.generation());
  std::shared_ptr<File> held = cache.Get("a", 0);
  cache.Put("b", OpenDevNull(), 0, cache.generation());  // evicts a
  EXPECT_EQ(cache.Get("a", 0), nullptr);
  char c;
  EXPECT_EQ(read(held->fd(), &c, 1), 0) << "fd closed under its user";
}

TEST(FdCacheTest, ShardedCacheHoldsItsCapacity) {
  // 4096 entries spread over shards: filling it with twice as many paths
  // keeps it at or under capacity, and each shard still keeps its most
  // recent paths.
  constexpr size_t kCapacity = 4096;
  FdCache cache(kCapacity, 1'000'000'000);
  std::shared_ptr<File> file = OpenDevNull();
  for (size_t i = 0; i < 2 * kCapacity; ++i) {
    cache.Put(std::to_string(i), file, 0, cache.generation());
  }
  EXPECT_LE(cache.size(), kCapacity);
  EXPECT_GE(cache.size(), kCapacity - 16);
  EXPECT_NE(cache.Get(std::to_string(2 * kCapacity - 1), 0), nullptr);
  EXPECT_EQ(cache.Get("0", 0), nullptr);
  const size_t held = cache.size();
  const size_t dropped = cache.Shed(0.5);
  EXPECT_GE(dropped, held / 2);
  EXPECT_EQ(cache.size(), held - dropped);
}

TEST(FdCacheTest, InvalidateEndsEveryEntryAndStalePutsAreDropped) {
  FdCache cache(16, 1'000'000'000);
  const uint64_t before = cache.generation();
  cache.Put("a/f", OpenDevNull(), 0, before);
  ASSERT_NE(cache.Get("a/f", 0), nullptr);
  cache.Invalidate();  // e.g. a rename of "a"
  EXPECT_EQ(cache.Get("a/f", 0), nullptr);
  // A reader that opened before the Invalidate must not cache its file.
  cache.Put("./a/f", OpenDevNull(), 0, before);
  EXPECT_EQ(cache.Get("./a/f", 0), nullptr);
  cache.Put("./a/f", OpenDevNull(), 0, cache.generation());
  EXPECT_NE(cache.Get("./a/f", 0), nullptr);
}

TEST(FdCacheTest, ZeroCapacityDisables) {
  FdCache cache(0, 1'000'000'000);
  cache.Put("a", OpenDevNull(), 0, cache.generation());
  EXPECT_EQ(cache.Get("a", 0), nullptr);
}

}  // namespace
}  // namespace overlapd::io
