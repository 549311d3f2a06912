// The --root sandbox seen from a client: escapes by "..", absolute paths,
// symlinks and NUL bytes are refused for reads and for writes, and nothing
// outside the root is read, changed or created.
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/server_test.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

class SandboxTest : public ServerTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartServer());
    WriteFileOrDie(outside_.Join("secret.txt"), kSecret);
    // Links inside the root that lead out of it: to a file, to a directory.
    ASSERT_EQ(::symlink(outside_.Join("secret.txt").c_str(),
                        server_->RootPath("link-to-secret").c_str()), 0);
    ASSERT_EQ(::symlink(outside_.path().c_str(), server_->RootPath("link-to-dir").c_str()), 0);
    // A relative ".." path from the root to the outside directory:
    // root is /tmp/overlapd-it-X/root, outside is /tmp/overlapd-out-Y.
    dotdot_outside_ = "../../" + outside_.path().substr(std::string("/tmp/").size());
    outside_before_ = ListDir(outside_.path());
    root_before_ = ListDir(server_->root());
  }

  // One op per batch, so a batch-level refusal of one path cannot hide the
  // outcome of another.
  CallResult RunOne(const v1::Op& op) {
    v1::Batch batch;
    *batch.add_ops() = op;
    return RunExecute(*server_->NewStub(), batch, std::chrono::seconds(20));
  }

  // Refused as the contract says: the whole batch with INVALID_ARGUMENT
  // (checked before any IO), or the op with OP_FAILED PERMISSION_DENIED
  // (the kernel's RESOLVE_BENEATH). `string_check` demands the former.
  void ExpectRefused(const CallResult& r, const std::string& what, bool string_check) {
    SCOPED_TRACE(what);
    if (r.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      EXPECT_TRUE(r.events.empty()) << "refused batch sent events: " << Describe(r.events[0]);
      return;
    }
    ASSERT_FALSE(string_check) << "expected INVALID_ARGUMENT before any IO, got status "
                               << r.status.error_code() << " " << r.status.error_message();
    ASSERT_TRUE(r.status.ok()) << r.status.error_code() << ": " << r.status.error_message();
    ASSERT_EQ(r.events.size(), 2u);  // the op's event, BATCH_COMPLETE
    const v1::Event& e = r.events[0];
    EXPECT_EQ(e.type(), v1::OP_FAILED) << Describe(e);
    EXPECT_EQ(e.error().code(), kCodePermissionDenied) << Describe(e);
    EXPECT_EQ(e.bytes(), 0u) << Describe(e);
    EXPECT_TRUE(e.data().empty());
  }

  void ExpectNothingChanged() {
    EXPECT_EQ(ReadFileOrDie(outside_.Join("secret.txt")), kSecret);
    EXPECT_EQ(ListDir(outside_.path()), outside_before_) << "a file appeared outside the root";
    EXPECT_EQ(ListDir(server_->root()), root_before_) << "a file appeared in the root";
  }

  static constexpr char kSecret[] = "outside the root: must stay unread and unchanged\n";
  TempDir outside_{"overlapd-out-"};
  std::string dotdot_outside_;
  std::vector<std::string> outside_before_;
  std::vector<std::string> root_before_;
};

TEST_F(SandboxTest, ReadsOutsideTheRootAreRefused) {
  ASSERT_TRUE(PathExists("/etc/passwd"));
  ASSERT_TRUE(PathExists(server_->RootPath(dotdot_outside_ + "/secret.txt")))
      << "the '..' path must really lead to the file, or the test proves nothing";
  struct Case {
    std::string path;
    bool string_check;
  } cases[] = {
      {"../../etc/passwd", false},
      {"../../../../../../../../etc/passwd", false},
      {dotdot_outside_ + "/secret.txt", false},
      {"/etc/passwd", true},
      {outside_.Join("secret.txt"), true},
      {"link-to-secret", false},
      {"link-to-dir/secret.txt", false},
      {std::string("link-to-secret\0.txt", 19), true},
      {std::string("etc\0/../../../etc/passwd", 24), true},
  };
  for (const Case& c : cases) {
    CallResult r = RunOne(ReadOp(1, c.path));
    ExpectRefused(r, "read \"" + absl::CHexEscape(c.path) + "\"", c.string_check);
    for (const v1::Event& e : r.events) {
      EXPECT_NE(e.type(), v1::READ_CHUNK) << "data left the sandbox: " << Describe(e);
    }
  }
  ExpectNothingChanged();

  // The same read of a file inside the root works: the refusals above are
  // about where the paths lead.
  WriteFileOrDie(server_->RootPath("inside.txt"), "inside\n");
  CallResult ok = RunOne(ReadOp(1, "inside.txt"));
  ASSERT_TRUE(ok.status.ok());
  ASSERT_FALSE(ok.events.empty());
  EXPECT_EQ(ok.events[0].type(), v1::READ_CHUNK) << Describe(ok.events[0]);
}

TEST_F(SandboxTest, WritesOutsideTheRootAreRefusedAndCreateNothing) {
  struct Case {
    std::string path;
    v1::WriteMode mode;
    bool string_check;
  } cases[] = {
      {dotdot_outside_ + "/created.txt", v1::WRITE_MODE_CREATE_NEW, false},
      {dotdot_outside_ + "/secret.txt", v1::WRITE_MODE_TRUNCATE, false},
      {"../escape.txt", v1::WRITE_MODE_AT, false},
      {outside_.Join("created-abs.txt"), v1::WRITE_MODE_CREATE_NEW, true},
      {outside_.Join("secret.txt"), v1::WRITE_MODE_AT, true},
      {"link-to-secret", v1::WRITE_MODE_AT, false},
      {"link-to-secret", v1::WRITE_MODE_TRUNCATE, false},
      {"link-to-secret", v1::WRITE_MODE_APPEND, false},
      {"link-to-dir/created-via-link.txt", v1::WRITE_MODE_CREATE_NEW, false},
      {"link-to-dir/secret.txt", v1::WRITE_MODE_AT, false},
      {std::string("nul\0.txt", 8), v1::WRITE_MODE_CREATE_NEW, true},
      {std::string("link-to-dir\0/x", 14), v1::WRITE_MODE_CREATE_NEW, true},
  };
  for (const Case& c : cases) {
    CallResult r = RunOne(WriteOp(1, c.path, "PWNED\n", c.mode));
    ExpectRefused(r, "write \"" + absl::CHexEscape(c.path) + "\" mode " + v1::WriteMode_Name(c.mode),
                  c.string_check);
  }
  ExpectNothingChanged();
  EXPECT_FALSE(PathExists(server_->RootPath("nul")));
  EXPECT_FALSE(PathExists(server_->RootPath("../escape.txt")));

  // A write inside the root works, so the refusals are not a broken write.
  CallResult ok = RunOne(WriteOp(1, "inside.txt", "fine\n"));
  ASSERT_TRUE(ok.status.ok());
  ASSERT_FALSE(ok.events.empty());
  EXPECT_EQ(ok.events[0].type(), v1::WRITE_COMPLETE) << Describe(ok.events[0]);
  EXPECT_EQ(ReadFileOrDie(server_->RootPath("inside.txt")), "fine\n");
}

}  // namespace
}  // namespace overlapd::itest
