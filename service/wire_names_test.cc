#include "service/wire_names.h"

#include <random>
#include <string>

#include "gtest/gtest.h"

namespace overlapd {
namespace {

TEST(WireNamesTest, ValidUtf8StaysAndInvalidBytesAreEscaped) {
  EXPECT_EQ(ToWireName("plain/caf\xc3\xa9.txt"), "plain/caf\xc3\xa9.txt");
  EXPECT_EQ(ToWireName("caf\xe9"), "caf\xef\x9f\xa9");  // U+F7E9
  EXPECT_EQ(FromWireName("caf\xef\x9f\xa9"), "caf\xe9");
  // A real U+F7A9 is escaped byte by byte, so that it comes back as itself.
  const std::string real = "x\xef\x9e\xa9";
  EXPECT_NE(ToWireName(real), real);
  EXPECT_EQ(FromWireName(ToWireName(real)), real);
  // A name cut inside a character (what a careless 200-byte cut makes).
  EXPECT_EQ(FromWireName(ToWireName("a\xc3")), "a\xc3");
  EXPECT_TRUE(IsValidUtf8(ToWireName("a\xc3")));
  EXPECT_FALSE(IsValidUtf8("a\xc3"));
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));      // overlong '/'
}

TEST(WireNamesTest, EveryByteStringRoundTripsAsValidUtf8) {
  std::mt19937_64 rng(7);
  for (int n = 0; n < 20000; ++n) {
    std::string raw(rng() % 24, '\0');
    for (char& c : raw) {
      // Mostly high bytes and the escape range's lead bytes: the hard cases.
      uint64_t r = rng();
      c = static_cast<char>(r % 4 == 0 ? 0xEF : r % 4 == 1 ? 0x9E + (r >> 8) % 2 : r >> 16);
    }
    const std::string wire = ToWireName(raw);
    ASSERT_TRUE(IsValidUtf8(wire)) << n;
    ASSERT_EQ(FromWireName(wire), raw) << n;
  }
}

}  // namespace
}  // namespace overlapd
