#include "service/logging.h"

#include "gtest/gtest.h"

namespace overlapd {
namespace {

TEST(LoggingTest, RefusesLevelsSpdlogWouldTurnIntoOff) {
  // spdlog::level::from_str("verbose") is "off": a typo would silence the
  // server. Names are exact and lower case.
  for (const char* bad : {"verbose", "WARN", "Info", "warning", "err", ""}) {
    absl::Status s = ConfigureLogging(bad, "text");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("--log-level"), absl::string_view::npos) << s;
  }
  EXPECT_EQ(ConfigureLogging("info", "yaml").code(), absl::StatusCode::kInvalidArgument);
  // Positive control: every listed name is taken.
  for (const std::string& good : LogLevelNames()) {
    EXPECT_TRUE(ConfigureLogging(good, "text").ok()) << good;
  }
  EXPECT_TRUE(ConfigureLogging("warn", "json").ok());
  EXPECT_TRUE(LogIsJson());
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::warn);
  EXPECT_EQ(AccessLogger()->level(), spdlog::level::warn);
  EXPECT_TRUE(ConfigureLogging("info", "text").ok());
  EXPECT_FALSE(LogIsJson());
}

TEST(LoggingTest, JsonEscapingKeepsLinesValid) {
  std::string out;
  AppendJsonEscaped("a\"b\\c\nd\te\x01 caf\xC3\xA9 bad\xE9!", &out);
  EXPECT_EQ(out, "a\\\"b\\\\c\\nd\\te\\u0001 caf\xC3\xA9 bad\\u00e9!");
}

}  // namespace
}  // namespace overlapd
