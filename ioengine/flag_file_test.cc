#include "ioengine/flag_file.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "gtest/gtest.h"
#include "ioengine/scratch_dir.h"

namespace overlapd {
namespace {

class FlagFileTest : public ::testing::Test {
 protected:
  ScratchDir scratch_{"overlapd-flag-file"};
  const std::string dir_ = scratch_.string();
};

TEST_F(FlagFileTest, ReadsTheWholeFile) {
  std::ofstream(dir_ + "/pem") << "-----BEGIN X-----\nabc\n-----END X-----\n";
  absl::StatusOr<std::string> read = ReadFlagFile("--tls-cert", dir_ + "/pem", FlagFile::kNonEmpty);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, "-----BEGIN X-----\nabc\n-----END X-----\n");
}

TEST_F(FlagFileTest, ErrorsNameTheFlagAndThePath) {
  absl::StatusOr<std::string> missing = ReadFlagFile("--tokens", dir_ + "/none");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(missing.status().message(), "--tokens " + dir_ + "/none: cannot be read");
  EXPECT_FALSE(ReadFlagFile("--tokens", dir_).ok());  // a directory

  std::ofstream(dir_ + "/empty");
  EXPECT_TRUE(ReadFlagFile("--tokens", dir_ + "/empty").ok());  // may be empty
  absl::StatusOr<std::string> empty =
      ReadFlagFile("--tls-ca", dir_ + "/empty", FlagFile::kNonEmpty);
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(empty.status().message(), "--tls-ca " + dir_ + "/empty: is empty");
}

}  // namespace
}  // namespace overlapd
