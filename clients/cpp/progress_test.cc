#include "clients/cpp/progress.h"

#include <gtest/gtest.h>

namespace overlapd {
namespace cli {
namespace {

TEST(ProgressTest, EtaFormats) {
  EXPECT_EQ(FormatEta(0), "0:00");
  EXPECT_EQ(FormatEta(7.4), "0:07");
  EXPECT_EQ(FormatEta(754), "12:34");
  EXPECT_EQ(FormatEta(3723), "1:02:03");
  EXPECT_EQ(FormatEta(-1), "?");
  EXPECT_EQ(FormatRate(1.5 * (1 << 20)), "1.5 MiB/s");
}

TEST(ProgressTest, LineHasBytesPercentRateAndEta) {
  // 100 MiB of 400 MiB in 2 s, 20 MiB of it found by a resume: 40 MiB/s,
  // 300 MiB left, 7.5 s.
  EXPECT_EQ(ProgressText("put x", 100 << 20, 400 << 20, 20 << 20, 2.0),
            "put x: 100.0 MiB / 400.0 MiB (25%)  40.0 MiB/s  ETA 0:08");
  EXPECT_EQ(ProgressText("get y", 5, 0, 0, 0), "get y: 5 B");
  EXPECT_EQ(ProgressText("get y", 10, 10, 0, 1.0), "get y: 10 B / 10 B (100%)  10 B/s");
}

}  // namespace
}  // namespace cli
}  // namespace overlapd
