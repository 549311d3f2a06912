#include "ioengine/crc32c.h"

#include <random>
#include <string>

#include "gtest/gtest.h"

namespace overlapd::io {
namespace {

TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);  // the CRC-32C check value
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);  // RFC 3720 B.4
}

TEST(Crc32cTest, ChainsLikeOneCall) {
  EXPECT_EQ(Crc32c(std::string_view("6789"), Crc32c(std::string_view("12345"))),
            Crc32c(std::string_view("123456789")));
}

TEST(Crc32cTest, CombineMatchesWholeRange) {
  std::mt19937 rng(7);
  std::string data(3 << 20, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  for (size_t split : {size_t{0}, size_t{1}, size_t{4096}, size_t{1 << 20},
                       data.size() - 1, data.size()}) {
    std::string_view a(data.data(), split);
    std::string_view b(data.data() + split, data.size() - split);
    EXPECT_EQ(Crc32cCombine(Crc32c(a), Crc32c(b), b.size()), Crc32c(data))
        << "split at " << split;
  }
}

TEST(Crc32cTest, CombinerMatchesTheGeneralCombine) {
  for (uint64_t len : {uint64_t{1}, uint64_t{4096}, uint64_t{1} << 20, uint64_t{12345}}) {
    Crc32cCombiner combiner(len);
    for (uint32_t a : {0u, 1u, 0xE3069283u, 0xFFFFFFFFu}) {
      EXPECT_EQ(combiner.Combine(a, 0x12345678u), Crc32cCombine(a, 0x12345678u, len))
          << "len " << len << " crc_a " << a;
    }
  }
}

}  // namespace
}  // namespace overlapd::io
