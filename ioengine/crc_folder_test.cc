#include "ioengine/crc_folder.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace overlapd::io::internal {
namespace {

TEST(CrcFolderTest, ChunksInAnyOrderFoldToTheCrcOfTheWhole) {
  constexpr uint64_t kChunk = 4096;
  std::mt19937_64 rng(3);
  std::string data(kChunk * 37 + 123, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  const uint64_t chunks = (data.size() + kChunk - 1) / kChunk;
  std::vector<uint64_t> order(chunks);
  std::iota(order.begin(), order.end(), 0);
  Crc32cCombiner full(kChunk);
  for (int round = 0; round < 20; ++round) {
    std::shuffle(order.begin(), order.end(), rng);
    CrcFolder folder;
    for (uint64_t i : order) {
      const uint64_t len = std::min<uint64_t>(kChunk, data.size() - i * kChunk);
      folder.Add(i, Crc32c(data.data() + i * kChunk, len), len, full);
    }
    EXPECT_EQ(folder.value(), Crc32c(data)) << "round " << round;
  }
  CrcFolder empty;
  EXPECT_EQ(empty.value(), 0u);
}

}  // namespace
}  // namespace overlapd::io::internal
