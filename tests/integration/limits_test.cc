// Batch limits (refused whole, before any IO) and link_next chains.
#include <errno.h>

#include <string>

#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/integration/server_test.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

constexpr int kMaxOps = 8;
constexpr uint64_t kMaxOpBytes = 1u << 20;

class LimitsTest : public ServerTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartServer({"--max-ops-per-batch", std::to_string(kMaxOps),
                                         "--max-op-bytes", std::to_string(kMaxOpBytes)}));
    stub_ = server_->NewStub();
  }

  v1::Batch Writes(int n, const std::string& prefix, size_t bytes = 10) {
    v1::Batch batch;
    for (int i = 0; i < n; ++i) {
      *batch.add_ops() = WriteOp(i, absl::StrCat(prefix, i), RandomBytes(bytes, i));
    }
    return batch;
  }

  std::unique_ptr<v1::IoService::Stub> stub_;
};

TEST_F(LimitsTest, TooManyOpsFailsWholeBatchBeforeAnyIo) {
  CallResult over = RunExecute(*stub_, Writes(kMaxOps + 1, "over-"));
  EXPECT_EQ(over.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << over.status.error_message();
  EXPECT_NE(over.status.error_message().find(std::to_string(kMaxOps)), std::string::npos)
      << "the message should name the limit: " << over.status.error_message();
  EXPECT_TRUE(over.events.empty());
  EXPECT_EQ(ListDir(server_->root()), std::vector<std::string>{}) << "a refused batch wrote";

  // At the limit it runs: the limit is the flag's value, not one less.
  CallResult at = RunExecute(*stub_, Writes(kMaxOps, "at-"));
  ASSERT_TRUE(at.status.ok()) << at.status.error_message();
  EXPECT_EQ(ListDir(server_->root()).size(), static_cast<size_t>(kMaxOps));
}

TEST_F(LimitsTest, WriteOverMaxOpBytesFailsWholeBatchBeforeAnyIo) {
  v1::Batch batch = Writes(3, "small-");
  *batch.add_ops() = WriteOp(3, "big", RandomBytes(kMaxOpBytes + 1, 3));
  CallResult over = RunExecute(*stub_, batch);
  EXPECT_EQ(over.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << over.status.error_message();
  EXPECT_NE(over.status.error_message().find("ops[3].write.data"), std::string::npos)
      << over.status.error_message();
  EXPECT_TRUE(over.events.empty());
  EXPECT_EQ(ListDir(server_->root()), std::vector<std::string>{}) << "a refused batch wrote";

  CallResult at = RunExecute(*stub_, Writes(1, "exact-", kMaxOpBytes));
  ASSERT_TRUE(at.status.ok()) << at.status.error_message();
  EXPECT_EQ(ReadFileOrDie(server_->RootPath("exact-0")).size(), kMaxOpBytes);
}

TEST_F(LimitsTest, SessionRefusesOverLimitBatchAndGoesOn) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = stub_->Session(&context);
  v1::Batch over = Writes(kMaxOps + 1, "over-");
  over.set_tag(1);
  v1::Batch fine = Writes(2, "fine-");
  fine.set_tag(2);
  ASSERT_TRUE(stream->Write(over));
  ASSERT_TRUE(stream->Write(fine));
  ASSERT_TRUE(stream->WritesDone());
  std::vector<v1::Event> events;
  v1::EventBatch message;
  for (int guard = 0; guard < 100 && stream->Read(&message); ++guard) {
    for (const v1::Event& e : message.events()) events.push_back(e);
  }
  grpc::Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::map<uint64_t, const v1::Event*> completes;
  for (const v1::Event& e : events) {
    if (e.type() == v1::BATCH_COMPLETE) completes[e.tag()] = &e;
  }
  ASSERT_EQ(completes.size(), 2u);
  EXPECT_EQ(completes[1]->error().code(), kCodeResourceExhausted) << Describe(*completes[1]);
  EXPECT_EQ(completes[2]->error().code(), 0) << Describe(*completes[2]);
  EXPECT_EQ(ListDir(server_->root()), (std::vector<std::string>{"fine-0", "fine-1"}));
}

class LinkTest : public ServerTest {
 protected:
  // write `data` to `path` (CREATE_NEW) -> fsync it -> read it back, linked:
  // tags 1, 2 and 3.
  static v1::Batch WriteFsyncReadChain(const std::string& path, const std::string& data) {
    v1::Batch batch;
    v1::Op* write = batch.add_ops();
    *write = WriteOp(1, path, data, v1::WRITE_MODE_CREATE_NEW);
    write->set_link_next(true);
    v1::Op* fsync = batch.add_ops();
    fsync->set_tag(2);
    fsync->mutable_fsync()->set_path(path);
    fsync->set_link_next(true);
    *batch.add_ops() = ReadOp(3, path);
    return batch;
  }
};

TEST_F(LinkTest, FailedLinkCancelsTheRestOfTheChain) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const std::string original = "the original content\n";
  WriteFileOrDie(server_->RootPath("existing.txt"), original);

  v1::Batch batch = WriteFsyncReadChain("existing.txt", "replacement\n");
  batch.set_tag(99);
  CallResult r = RunExecute(*server_->NewStub(), batch);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  std::map<uint64_t, OpOutcome> ops = GroupByTag(r.events);
  ASSERT_EQ(ops.size(), 3u);
  for (uint64_t tag : {1, 2, 3}) ASSERT_EQ(ops[tag].terminal_events, 1) << tag;
  const v1::Event& w = *ops[1].terminal();
  EXPECT_EQ(w.type(), v1::OP_FAILED) << Describe(w);
  EXPECT_EQ(w.error().code(), kCodeAlreadyExists) << Describe(w);
  EXPECT_EQ(w.error().errno_value(), EEXIST) << Describe(w);
  EXPECT_EQ(ops[2].terminal()->type(), v1::OP_CANCELLED) << Describe(*ops[2].terminal());
  EXPECT_EQ(ops[3].terminal()->type(), v1::OP_CANCELLED) << Describe(*ops[3].terminal());
  EXPECT_EQ(ops[3].events.size(), 1u) << "the cancelled read sent data";
  EXPECT_EQ(r.events.back().type(), v1::BATCH_COMPLETE);
  EXPECT_EQ(ReadFileOrDie(server_->RootPath("existing.txt")), original);
}

TEST_F(LinkTest, SuccessfulChainRunsInOrder) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  // write -> fsync -> read of a new file: the read sees the write only if
  // the chain really runs in order.
  const std::string data = RandomBytes(3u << 20, 5);
  v1::Batch batch = WriteFsyncReadChain("chained.bin", data);
  CallResult r = RunExecute(*server_->NewStub(), batch);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  std::map<uint64_t, OpOutcome> ops = GroupByTag(r.events);
  ASSERT_EQ(ops.size(), 3u);
  EXPECT_EQ(ops[1].terminal()->type(), v1::WRITE_COMPLETE) << Describe(*ops[1].terminal());
  EXPECT_EQ(ops[2].terminal()->type(), v1::FSYNC_COMPLETE) << Describe(*ops[2].terminal());
  EXPECT_EQ(ops[3].terminal()->type(), v1::READ_COMPLETE) << Describe(*ops[3].terminal());
  EXPECT_TRUE(ops[3].problems.empty()) << ::testing::PrintToString(ops[3].problems);
  EXPECT_TRUE(ops[3].data == data) << "the read did not see the whole write";
  // In event order too: the write completed before the read's first chunk.
  size_t write_at = 0, first_chunk_at = r.events.size();
  for (size_t i = 0; i < r.events.size(); ++i) {
    if (r.events[i].tag() == 1 && r.events[i].type() == v1::WRITE_COMPLETE) write_at = i;
    if (r.events[i].tag() == 3 && first_chunk_at == r.events.size()) first_chunk_at = i;
  }
  EXPECT_LT(write_at, first_chunk_at);
}

}  // namespace
}  // namespace overlapd::itest
