#include "ioengine/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace overlapd::io {
namespace {

namespace fs = std::filesystem;

TEST(CheckRelativePathTest, AcceptsRelativePaths) {
  EXPECT_TRUE(CheckRelativePath("", "f").ok());
  EXPECT_TRUE(CheckRelativePath(".", "f").ok());
  EXPECT_TRUE(CheckRelativePath("a/b/c.txt", "f").ok());
  EXPECT_TRUE(CheckRelativePath("a/../b", "f").ok());  // the kernel judges ..
}

TEST(CheckRelativePathTest, RefusesMalformedPathsNamingTheField) {
  absl::Status abs = CheckRelativePath("/etc/passwd", "ops[3].read.path");
  EXPECT_EQ(abs.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(abs.message().find("ops[3].read.path"), std::string::npos);
  EXPECT_EQ(CheckRelativePath(std::string("a\0b", 3), "f").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckRelativePath(std::string(256, 'n'), "f").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckRelativePath(std::string(5000, 'n'), "f").code(),
            absl::StatusCode::kInvalidArgument);
}

class OpenBeneathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/overlapd-sandbox-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    outside_ = root_.string() + "-outside";
    fs::create_directories(root_ / "sub");
    fs::create_directories(outside_);
    std::ofstream(root_ / "sub" / "in.txt") << "inside";
    std::ofstream(outside_ / "secret") << "secret";
    fs::create_symlink(outside_ / "secret", root_ / "abs_link");
    fs::create_symlink("../" + outside_.filename().string() + "/secret",
                       root_ / "rel_link");
    fs::create_symlink("sub/in.txt", root_ / "good_link");
    root_fd_ = open(root_.c_str(), O_RDONLY | O_DIRECTORY);
  }
  void TearDown() override {
    close(root_fd_);
    fs::remove_all(root_);
    fs::remove_all(outside_);
  }
  fs::path root_, outside_;
  int root_fd_ = -1;
};

TEST_F(OpenBeneathTest, OpensInside) {
  int fd = OpenBeneath(root_fd_, "sub/in.txt", O_RDONLY);
  ASSERT_GE(fd, 0);
  close(fd);
  fd = OpenBeneath(root_fd_, "good_link", O_RDONLY);
  ASSERT_GE(fd, 0) << "a symlink that stays inside is fine";
  close(fd);
  fd = OpenBeneath(root_fd_, "sub/../sub/in.txt", O_RDONLY);
  ASSERT_GE(fd, 0);
  close(fd);
}

TEST_F(OpenBeneathTest, RefusesEscapes) {
  EXPECT_EQ(OpenBeneath(root_fd_, "../../etc/passwd", O_RDONLY), -EXDEV);
  EXPECT_EQ(OpenBeneath(root_fd_, "/etc/passwd", O_RDONLY), -EXDEV);
  EXPECT_EQ(OpenBeneath(root_fd_, "abs_link", O_RDONLY), -EXDEV);
  EXPECT_EQ(OpenBeneath(root_fd_, "rel_link", O_RDONLY), -EXDEV);
  EXPECT_EQ(OpenBeneath(root_fd_, "abs_link", O_WRONLY | O_CREAT | O_TRUNC, 0644),
            -EXDEV);
  std::ifstream secret(outside_ / "secret");
  std::string content;
  secret >> content;
  EXPECT_EQ(content, "secret") << "the file outside was touched";
}

TEST_F(OpenBeneathTest, OpenParent) {
  std::string leaf;
  int fd = OpenParentBeneath(root_fd_, "sub/new.txt", &leaf);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(leaf, "new.txt");
  close(fd);
  EXPECT_EQ(OpenParentBeneath(root_fd_, "sub/..", &leaf), -EINVAL);
  EXPECT_EQ(OpenParentBeneath(root_fd_, "../x/y", &leaf), -EXDEV);
}

}  // namespace
}  // namespace overlapd::io
