#include "clients/cpp/cli_common.h"

#include <gtest/gtest.h>

namespace overlapd {
namespace cli {
namespace {

TEST(CliCommonTest, NamesAreEscapedForTheTerminal) {
  EXPECT_EQ(EscapeName("plain name.txt"), "plain name.txt");
  EXPECT_EQ(EscapeName("two\nlines"), "two\\nlines");
  EXPECT_EQ(EscapeName("\x1b[31mred"), "\\x1b[31mred");
  EXPECT_EQ(EscapeName("tab\there\\"), "tab\\there\\\\");
  EXPECT_EQ(EscapeName(std::string("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(EscapeName("caf\xc3\xa9"), "caf\xc3\xa9");  // UTF-8 stays
}

TEST(CliCommonTest, DidYouMeanPicksTheClosePlausibleOne) {
  const std::vector<std::string> commands = {"put", "get", "ls", "stat", "sync", "mkdir"};
  EXPECT_EQ(ClosestMatch("pt", commands), "put");
  EXPECT_EQ(ClosestMatch("lss", commands), "ls");
  EXPECT_EQ(ClosestMatch("mkdri", commands), "mkdir");
  EXPECT_EQ(ClosestMatch("stats", commands), "stat");
  EXPECT_EQ(ClosestMatch("frobnicate", commands), "");
  EXPECT_EQ(ClosestMatch("x", commands), "");
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
}

TEST(CliCommonTest, SixtyFourBitIntegersAreStrings) {
  EXPECT_EQ(U64(18446744073709551615ull), "18446744073709551615");
  EXPECT_EQ(I64(-5), "-5");
  const nlohmann::json info = FileInfoJson([] {
    v1::FileInfo i;
    i.set_size(1ull << 60);
    i.set_mtime_ns(1'796'180'808'449'396'959);
    return i;
  }());
  EXPECT_EQ(info["size"], "1152921504606846976");
  EXPECT_EQ(info["mtime_ns"], "1796180808449396959");
}

}  // namespace
}  // namespace cli
}  // namespace overlapd
