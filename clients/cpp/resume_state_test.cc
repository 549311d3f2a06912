#include "clients/cpp/resume_state.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace overlapd {
namespace internal {
namespace {

std::string TempPath(const char* name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/overlap-resume-test-" + name;
}

TEST(ResumeStateTest, RoundTripsWithExact64BitNumbers) {
  const std::string path = TempPath("roundtrip");
  const ResumeState state{"put", "dir/big.bin", "dir/.big.bin.overlapd-up-1", 1ull << 62,
                          1'796'180'808'449'396'959};
  ASSERT_TRUE(SaveResumeState(path, state).ok());
  const std::optional<ResumeState> loaded = LoadResumeState(path);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_TRUE(loaded->SameTransfer(state));
  EXPECT_EQ(loaded->temp_path, state.temp_path);
  EXPECT_EQ(loaded->size, 1ull << 62);
  std::remove(path.c_str());
  EXPECT_FALSE(LoadResumeState(path).has_value());
}

TEST(ResumeStateTest, AnUnreadableStateMeansStartOver) {
  const std::string path = TempPath("garbage");
  std::ofstream(path) << "{\"kind\": \"put\", \"size\": 12}";  // a number, no remote
  EXPECT_FALSE(LoadResumeState(path).has_value());
  std::ofstream(path) << "not json";
  EXPECT_FALSE(LoadResumeState(path).has_value());
  std::remove(path.c_str());
}

TEST(ResumeStateTest, AnotherFileOrTargetIsAnotherTransfer) {
  const ResumeState a{"put", "x", "t", 10, 20};
  EXPECT_FALSE(a.SameTransfer({"put", "y", "t", 10, 20}));
  EXPECT_FALSE(a.SameTransfer({"put", "x", "t", 11, 20}));
  EXPECT_FALSE(a.SameTransfer({"put", "x", "t", 10, 21}));
  EXPECT_FALSE(a.SameTransfer({"get", "x", "t", 10, 20}));
  EXPECT_TRUE(a.SameTransfer({"put", "x", "other temp", 10, 20}));
  EXPECT_EQ(ResumeFileFor("/a/b.bin"), "/a/b.bin.overlap-resume");
  EXPECT_EQ(PartialFileFor("/a/b.bin"), "/a/b.bin.partial");
}

}  // namespace
}  // namespace internal
}  // namespace overlapd
