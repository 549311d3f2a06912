#include "service/status_util.h"

#include <errno.h>

#include "gtest/gtest.h"

namespace overlapd {
namespace {

TEST(CodeForErrnoTest, MapsTheDocumentedCases) {
  EXPECT_EQ(CodeForErrno(ENOENT), absl::StatusCode::kNotFound);
  EXPECT_EQ(CodeForErrno(EACCES), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(CodeForErrno(EXDEV), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(CodeForErrno(ELOOP), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CodeForErrno(ESPIPE), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CodeForErrno(E2BIG), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(CodeForErrno(ENOSPC), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(CodeForErrno(EEXIST), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(CodeForErrno(EIO), absl::StatusCode::kDataLoss);
  EXPECT_EQ(CodeForErrno(EBADMSG), absl::StatusCode::kDataLoss);
  EXPECT_EQ(CodeForErrno(ECANCELED), absl::StatusCode::kCancelled);
  EXPECT_EQ(CodeForErrno(EHWPOISON), absl::StatusCode::kInternal);
}

TEST(ErrnoMessageTest, NamesOpPathAndCause) {
  EXPECT_EQ(ErrnoMessage("read", "a/b", ENOENT),
            "read \"a/b\": No such file or directory");
  EXPECT_EQ(ErrnoMessage("write", "x", EXDEV),
            "write \"x\": path leads outside the server root");
}

}  // namespace
}  // namespace overlapd
