#include "ioengine/chunk_buffers.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace overlapd::io {
namespace {

constexpr uint64_t kChunk = 1 << 20;

TEST(ChunkBuffersTest, ARecycledBufferComesBackWithItsBytesUntouched) {
  ChunkBuffers pool(8 * kChunk);
  std::string first = pool.Take(kChunk);
  ASSERT_EQ(first.size(), kChunk);
  first.assign(kChunk, 'x');
  const char* memory = first.data();
  pool.Give(std::move(first));
  EXPECT_EQ(pool.kept_bytes(), kChunk);

  std::string again = pool.Take(kChunk);
  EXPECT_EQ(again.data(), memory);  // the same allocation
  EXPECT_EQ(again.size(), kChunk);
  EXPECT_EQ(again.find_first_not_of('x'), std::string::npos);  // not zero-filled
  EXPECT_EQ(pool.kept_bytes(), 0u);
}

TEST(ChunkBuffersTest, AShortLastChunkGrowsBackOnlyByItsGap) {
  ChunkBuffers pool(8 * kChunk);
  std::string buffer = pool.Take(kChunk);
  buffer.assign(kChunk, 'y');
  buffer.resize(1000 + ChunkBuffers::kMinBytes);  // what a short read leaves
  pool.Give(std::move(buffer));
  std::string again = pool.Take(kChunk);
  ASSERT_EQ(again.size(), kChunk);
  EXPECT_EQ(again[0], 'y');
  EXPECT_EQ(again[kChunk - 1], '\0');  // the grown part is filled
}

TEST(ChunkBuffersTest, SmallBuffersAndBuffersOverTheCapAreFreed) {
  ChunkBuffers pool(2 * kChunk);
  pool.Give(std::string(4096, 'a'));
  EXPECT_EQ(pool.kept_bytes(), 0u);
  std::string a = pool.Take(kChunk), b = pool.Take(kChunk), c = pool.Take(kChunk);
  pool.Give(std::move(a));
  pool.Give(std::move(b));
  pool.Give(std::move(c));  // over the cap
  EXPECT_EQ(pool.kept_bytes(), 2 * kChunk);

  ChunkBuffers none(0);
  none.Give(none.Take(kChunk));
  EXPECT_EQ(none.kept_bytes(), 0u);
}

TEST(ChunkBuffersTest, AShortChunkDoesNotTakeABufferFarBiggerThanItself) {
  ChunkBuffers pool(8 * kChunk);
  pool.Give(pool.Take(kChunk));
  std::string short_chunk = pool.Take(100 << 10);  // 100 KiB: a 1 MiB buffer would hold 10x
  EXPECT_LT(short_chunk.capacity(), kChunk);
  EXPECT_EQ(pool.kept_bytes(), kChunk);
  std::string half = pool.Take(kChunk / 2);  // within twice: recycled
  EXPECT_EQ(half.capacity(), kChunk);
  EXPECT_EQ(pool.kept_bytes(), 0u);
}

TEST(ChunkBuffersTest, SmallTakesNeverTouchThePool) {
  ChunkBuffers pool(8 * kChunk);
  pool.Give(pool.Take(kChunk));
  std::string small = pool.Take(4096);
  EXPECT_EQ(small.size(), 4096u);
  EXPECT_EQ(pool.kept_bytes(), kChunk);
}

}  // namespace
}  // namespace overlapd::io
