// A damaged state store never takes data down with it: overlapd refuses to
// start on a truncated or overwritten store, or on a read-only --state-dir,
// with a message naming the file and what to do; with the store put back,
// it starts and the jobs are there (the positive control).
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/server_harness.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

namespace fs = std::filesystem;

// A root whose store holds one finished job; returns its id.
uint64_t MakeStore(const std::string& root) {
  fs::create_directories(root);
  WriteFileOrDie(root + "/a", "some bytes");
  auto server = ServerProcess::Start({}, root);
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return 0;
  auto stub = (*server)->NewStub();
  v1::Batch b;
  b.add_ops()->mutable_copy()->set_src("a");
  b.mutable_ops(0)->mutable_copy()->set_dst("b");
  grpc::ClientContext ctx;
  v1::Job job;
  EXPECT_TRUE(stub->Submit(&ctx, b, &job).ok());
  auto stopped = (*server)->Stop();  // a drain: the job ends, the WAL is checkpointed
  EXPECT_TRUE(stopped.ok() && *stopped == 0);
  return job.id();
}

// Starts on `root` and expects a refusal naming `file`.
void ExpectRefusal(const std::string& root, const std::string& file, const std::string& why) {
  auto server = ServerProcess::Start({}, root);
  ASSERT_FALSE(server.ok()) << "started on " << why;
  const std::string out(server.status().message());
  EXPECT_NE(out.find("state store " + file), std::string::npos) << out;
  EXPECT_NE(out.find("--state-dir"), std::string::npos) << "says what to do: " << out;
}

// The positive control: the job answers as before.
void ExpectJob(const std::string& root, uint64_t id) {
  auto server = ServerProcess::Start({}, root);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = (*server)->NewStub();
  grpc::ClientContext ctx;
  v1::GetJobRequest req;
  req.set_id(id);
  v1::Job job;
  grpc::Status s = stub->GetJob(&ctx, req, &job);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(job.state(), v1::SUCCEEDED);
}

TEST(StoreRefusalTest, TruncatedStoreRefusesToStart) {
  TempDir dir("overlapd-store-");
  const std::string root = dir.Join("root");
  const uint64_t id = MakeStore(root);
  const std::string db = root + ".state/overlapd.db";
  const std::string saved = ReadFileOrDie(db);
  ASSERT_GT(saved.size(), 4096u * 3);
  for (size_t size : {saved.size() / 2, size_t{100}, size_t{0}}) {
    ASSERT_EQ(truncate(db.c_str(), static_cast<off_t>(size)), 0);
    ExpectRefusal(root, db, absl::StrCat("a store truncated to ", size, " bytes"));
  }
  WriteFileOrDie(db, saved);
  ExpectJob(root, id);
}

TEST(StoreRefusalTest, CorruptStoreRefusesToStart) {
  TempDir dir("overlapd-store-");
  const std::string root = dir.Join("root");
  const uint64_t id = MakeStore(root);
  const std::string db = root + ".state/overlapd.db";
  const std::string saved = ReadFileOrDie(db);
  // Garbage over the second page (a table's root), then over the header.
  for (size_t at : {size_t{4096}, size_t{0}}) {
    std::string bad = saved;
    for (size_t i = at; i < at + 512 && i < bad.size(); ++i) bad[i] = static_cast<char>(i * 131);
    WriteFileOrDie(db, bad);
    ExpectRefusal(root, db, absl::StrCat("garbage at byte ", at));
  }
  WriteFileOrDie(db, saved);
  ExpectJob(root, id);
}

TEST(StoreRefusalTest, ReadOnlyStateDirRefusesToStart) {
  TempDir dir("overlapd-store-");
  const std::string root = dir.Join("root");
  const uint64_t id = MakeStore(root);
  const std::string state = root + ".state";
  // Root ignores permission bits: a read-only bind mount then.
  bool mounted = false;
  if (geteuid() == 0) {
    if (mount(state.c_str(), state.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      GTEST_SKIP() << "cannot bind-mount as root here (" << strerror(errno)
                   << "): no way to make a read-only directory";
    }
    mounted = true;
    if (mount(nullptr, state.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
      umount(state.c_str());
      GTEST_SKIP() << "cannot remount read-only: " << strerror(errno);
    }
  } else {
    ASSERT_EQ(chmod(state.c_str(), 0555), 0);
  }
  ExpectRefusal(root, state + "/overlapd.db", "a read-only --state-dir");
  if (mounted) {
    ASSERT_EQ(umount(state.c_str()), 0);
  } else {
    ASSERT_EQ(chmod(state.c_str(), 0755), 0);
  }
  ExpectJob(root, id);
}

}  // namespace
}  // namespace overlapd::itest
