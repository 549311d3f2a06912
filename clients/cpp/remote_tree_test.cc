#include "clients/cpp/remote_tree.h"

#include <gtest/gtest.h>

namespace overlapd {
namespace cli {
namespace {

TEST(RemotePathTest, JoinAndBaseName) {
  EXPECT_EQ(JoinPath("a/b", "c"), "a/b/c");
  EXPECT_EQ(JoinPath("a/b/", "c"), "a/b/c");
  EXPECT_EQ(JoinPath("", "c"), "c");
  EXPECT_EQ(JoinPath(".", "c"), "c");
  EXPECT_EQ(BaseName("a/b/c"), "c");
  EXPECT_EQ(BaseName("a/b/"), "b");
  EXPECT_EQ(BaseName("c"), "c");
}

TEST(RemotePathTest, TargetIsInsideADirectoryOrTheNameItself) {
  EXPECT_EQ(TargetPath("/tmp/x.bin", "data/", false), "data/x.bin");
  EXPECT_EQ(TargetPath("/tmp/x.bin", "data", true), "data/x.bin");
  EXPECT_EQ(TargetPath("/tmp/x.bin", "data/y.bin", false), "data/y.bin");
  EXPECT_EQ(TargetPath("dir/", "out/", false), "out/dir");
}

}  // namespace
}  // namespace cli
}  // namespace overlapd
