// Hostile and unlucky inputs against a real overlapd: each test makes one
// thing happen that a careful client never does (a sparse file of 2^62
// bytes, a FIFO, a symlink out of a token's prefix, a user file that looks
// like a temp file, a path spelled two ways) and checks that the server
// neither crashes, hangs, escapes nor loses or hides data.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/integration/server_harness.h"
#include "tests/integration/server_test.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

v1::Batch BatchOf(std::vector<v1::Op> ops) {
  v1::Batch b;
  for (auto& op : ops) *b.add_ops() = std::move(op);
  return b;
}

// The terminal event of the only op of a one-op Execute.
v1::Event RunOneOp(v1::IoService::Stub& stub, v1::Op op) {
  CallResult r = RunExecute(stub, BatchOf({std::move(op)}), std::chrono::seconds(30));
  EXPECT_TRUE(r.status.ok()) << r.status.error_code() << ": " << r.status.error_message();
  auto grouped = GroupByTag(r.events);
  if (grouped.empty() || grouped.begin()->second.terminal() == nullptr) {
    ADD_FAILURE() << "no terminal event";
    return v1::Event();
  }
  return *grouped.begin()->second.terminal();
}

// ---- item 7: the restart sweep deletes only what overlapd minted ----------

TEST(HostileTest, RestartSweepsOnlyTempFilesTheServerMinted) {
  TempDir dir("overlapd-sweep-");
  const std::string root = dir.Join("root");
  std::string upload_temp;
  {
    auto server = ServerProcess::Start({}, root);
    ASSERT_TRUE(server.ok()) << server.status();
    auto stub = (*server)->NewStub();
    v1::Op mkdir;
    mkdir.mutable_mkdir()->set_path("dir");
    ASSERT_EQ(RunOneOp(*stub, mkdir).type(), v1::MKDIR_COMPLETE);
    // User files whose names look like temp files, written durably.
    for (const char* name : {".notes.overlapd-tmp-keepme", "dir/.x.overlapd-tmp-0000",
                             ".y.overlapd-up-00000000000000000000000000000000"}) {
      v1::Event e = RunOneOp(*stub, WriteOp(1, name, "mine", v1::WRITE_MODE_CREATE_NEW,
                                            v1::DURABILITY_FULL));
      ASSERT_EQ(e.type(), v1::WRITE_COMPLETE) << name << ": " << Describe(e);
    }
    // Positive control: an upload temp the server minted, abandoned an hour ago.
    grpc::ClientContext ctx;
    v1::BeginUploadRequest req;
    req.set_path("dir/big.bin");
    v1::Upload upload;
    grpc::Status s = stub->BeginUpload(&ctx, req, &upload);
    ASSERT_TRUE(s.ok()) << s.error_message();
    upload_temp = upload.temp_path();
    EXPECT_EQ(upload_temp.rfind("dir/.big.bin.overlapd-up-", 0), 0u) << upload_temp;
    EXPECT_EQ(upload.grace_seconds(), 24u * 3600);
    ASSERT_EQ(RunOneOp(*stub, WriteOp(2, upload_temp, "partial")).type(), v1::WRITE_COMPLETE);
    struct timespec old[2] = {{time(nullptr) - 3600, 0}, {time(nullptr) - 3600, 0}};
    ASSERT_EQ(utimensat(AT_FDCWD, (root + "/" + upload_temp).c_str(), old, 0), 0);
    ASSERT_TRUE((*server)->Stop().ok());
  }
  auto again = ServerProcess::Start({"--upload-grace", "600"}, root);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(PathExists(root + "/" + upload_temp)) << "the abandoned upload stays";
  EXPECT_EQ(ReadFileOrDie(root + "/.notes.overlapd-tmp-keepme"), "mine");
  EXPECT_EQ(ReadFileOrDie(root + "/dir/.x.overlapd-tmp-0000"), "mine");
  EXPECT_EQ(ReadFileOrDie(root + "/.y.overlapd-up-00000000000000000000000000000000"), "mine");
  EXPECT_NE((*again)->Log().find("removed 1 upload temp files"), std::string::npos)
      << (*again)->Log();
}

TEST(HostileTest, BeginUploadChecksThePathAndTheToken) {
  TempDir dir("overlapd-upload-");
  WriteFileOrDie(dir.Join("tokens"), "read-token-0123456789abcdef read\n"
                                     "team-token-0123456789abcdef read,write team\n");
  auto server = ServerProcess::Start({"--tokens", dir.Join("tokens")});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = (*server)->NewStub();
  auto begin = [&](const char* token, const std::string& path) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    v1::BeginUploadRequest req;
    req.set_path(path);
    v1::Upload upload;
    return stub->BeginUpload(&ctx, req, &upload);
  };
  EXPECT_TRUE(begin("team-token-0123456789abcdef", "team/a.bin").ok());
  EXPECT_EQ(begin("team-token-0123456789abcdef", "other/a.bin").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(begin("read-token-0123456789abcdef", "a.bin").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(begin("team-token-0123456789abcdef", "/etc/passwd").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(begin("team-token-0123456789abcdef", "team/..").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(begin("team-token-0123456789abcdef", std::string(300, 'x')).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(HostileTest, StateDirInsideTheRootIsRefused) {
  TempDir dir("overlapd-state-");
  auto server = ServerProcess::Start({"--state-dir", dir.Join("root/state")}, dir.Join("root"));
  ASSERT_FALSE(server.ok());
  EXPECT_NE(std::string(server.status().message()).find("lies inside --root"),
            std::string::npos)
      << server.status();
}

}  // namespace
}  // namespace overlapd::itest
