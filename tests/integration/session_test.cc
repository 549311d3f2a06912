// Session: pipelined batches on one bidi stream, on each engine. A batch that
// breaks a rule is refused alone and the session goes on; an op that fails
// at run time fails alone and the rest of its batch succeeds.
#include <errno.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/integration/engine_param.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

constexpr int kBatches = 50;
constexpr int kOpsPerBatch = 20;
constexpr int kWindow = 8;        // batches in flight
constexpr int kBadBatch = 25;     // refused: ops[7] has an absolute path
constexpr int kBadOp = 7;
constexpr int kMissingBatch = 30; // ops[9] reads a file that does not exist
constexpr int kMissingOp = 9;
constexpr uint64_t kBatchTagBase = 1000000;

uint64_t OpTag(int batch, int op) { return static_cast<uint64_t>(batch) * 100 + op; }
std::string WriteName(int batch, int op) { return absl::StrCat("w-", batch, "-", op, ".bin"); }
std::string ReadName(int op) { return absl::StrCat("r-", op, ".bin"); }

class SessionTest : public EngineTest {};

TEST_P(SessionTest, PipelinedBatchesRefusedBatchAndRuntimeFailure) {
  ASSERT_NO_FATAL_FAILURE(StartOnEngine());
  if (IsSkipped()) return;

  // The files the odd ops read, created directly on disk.
  std::map<int, std::string> read_files;
  for (int j = 1; j < kOpsPerBatch; j += 2) {
    read_files[j] = RandomBytes(100 + 997 * j, 77 + j);
    WriteFileOrDie(server_->RootPath(ReadName(j)), read_files[j]);
  }
  // Even ops write a new file each, odd ops read: a mixed batch.
  std::map<uint64_t, std::string> write_data;  // by op tag
  auto make_batch = [&](int b) {
    v1::Batch batch;
    batch.set_tag(kBatchTagBase + b);
    for (int j = 0; j < kOpsPerBatch; ++j) {
      if (j % 2 == 0) {
        std::string data = RandomBytes(1 + (b * 131 + j * 17) % 5000, OpTag(b, j));
        write_data[OpTag(b, j)] = data;
        *batch.add_ops() = WriteOp(OpTag(b, j), WriteName(b, j), std::move(data));
      } else if (b == kBadBatch && j == kBadOp) {
        *batch.add_ops() = ReadOp(OpTag(b, j), "/etc/passwd");
      } else if (b == kMissingBatch && j == kMissingOp) {
        *batch.add_ops() = ReadOp(OpTag(b, j), "no-such-file.bin");
      } else {
        *batch.add_ops() = ReadOp(OpTag(b, j), ReadName(j));
      }
    }
    return batch;
  };

  auto stub = server_->NewStub();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto stream = stub->Session(&context);
  std::vector<v1::Event> events;
  int sent = 0, completed = 0, max_inflight = 0;
  bool closed = false;
  // Single-threaded pipelining: send while fewer than kWindow batches are
  // unanswered, else read. Bounded: each Read either brings events or ends
  // the stream, and the context deadline bounds the wait.
  while (completed < kBatches) {
    while (sent < kBatches && sent - completed < kWindow) {
      ASSERT_TRUE(stream->Write(make_batch(sent))) << "stream broke at batch " << sent;
      ++sent;
      max_inflight = std::max(max_inflight, sent - completed);
    }
    if (sent == kBatches && !closed) {
      ASSERT_TRUE(stream->WritesDone());
      closed = true;
    }
    v1::EventBatch message;
    if (!stream->Read(&message)) break;
    for (v1::Event& e : *message.mutable_events()) {
      if (e.type() == v1::BATCH_COMPLETE) ++completed;
      events.push_back(std::move(e));
    }
  }
  if (!closed) stream->WritesDone();
  v1::EventBatch extra;
  int extra_events = 0;
  for (int guard = 0; guard < 1000 && stream->Read(&extra); ++guard) {
    extra_events += extra.events_size();
  }
  grpc::Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(completed, kBatches);
  EXPECT_EQ(extra_events, 0) << "events after the last BATCH_COMPLETE";
  EXPECT_EQ(max_inflight, kWindow);
  EXPECT_EQ(SeqViolation(events), "") << "see event_order_test.cc";

  // Split by batch: op tags are batch * 100 + op; BATCH_COMPLETE carries the
  // batch tag.
  std::map<int, std::vector<v1::Event>> by_batch;
  std::map<int, int> completes;
  std::map<int, size_t> complete_position;
  for (size_t i = 0; i < events.size(); ++i) {
    const v1::Event& e = events[i];
    if (e.type() == v1::BATCH_COMPLETE) {
      ASSERT_GE(e.tag(), kBatchTagBase) << Describe(e);
      const int b = static_cast<int>(e.tag() - kBatchTagBase);
      ++completes[b];
      complete_position[b] = i;
      by_batch[b].push_back(e);
    } else {
      const int b = static_cast<int>(e.tag() / 100);
      by_batch[b].push_back(e);
      // An op's events come before its batch's BATCH_COMPLETE.
      EXPECT_EQ(completes[b], 0) << "event after BATCH_COMPLETE: " << Describe(e);
    }
  }
  for (int b = 0; b < kBatches; ++b) {
    SCOPED_TRACE(absl::StrCat("batch ", b));
    ASSERT_EQ(completes[b], 1);
    const v1::Event& done = events[complete_position[b]];
    std::map<uint64_t, OpOutcome> ops = GroupByTag(by_batch[b]);
    if (b == kBadBatch) {
      EXPECT_EQ(done.error().code(), kCodeInvalidArgument) << Describe(done);
      EXPECT_NE(done.error().message().find(absl::StrCat("ops[", kBadOp, "].read.path")),
                std::string::npos)
          << done.error().message();
      EXPECT_TRUE(ops.empty()) << "a refused batch ran ops: " << Describe(ops.begin()->second.events[0]);
      for (int j = 0; j < kOpsPerBatch; j += 2) {
        EXPECT_FALSE(PathExists(server_->RootPath(WriteName(b, j))))
            << "refused batch wrote " << WriteName(b, j);
      }
      continue;
    }
    EXPECT_EQ(done.error().code(), 0) << Describe(done);
    ASSERT_EQ(ops.size(), static_cast<size_t>(kOpsPerBatch));
    for (int j = 0; j < kOpsPerBatch; ++j) {
      const OpOutcome& op = ops[OpTag(b, j)];
      SCOPED_TRACE(absl::StrCat("op ", j));
      ASSERT_EQ(op.terminal_events, 1);
      const v1::Event& t = *op.terminal();
      EXPECT_EQ(t.op_index(), static_cast<uint32_t>(j));
      EXPECT_TRUE(op.problems.empty()) << ::testing::PrintToString(op.problems);
      if (b == kMissingBatch && j == kMissingOp) {
        EXPECT_EQ(t.type(), v1::OP_FAILED) << Describe(t);
        EXPECT_EQ(t.error().code(), kCodeNotFound) << Describe(t);
        EXPECT_EQ(t.error().errno_value(), ENOENT) << Describe(t);
      } else if (j % 2 == 0) {
        const std::string& data = write_data[OpTag(b, j)];
        EXPECT_EQ(t.type(), v1::WRITE_COMPLETE) << Describe(t);
        EXPECT_EQ(t.bytes(), data.size());
        EXPECT_EQ(t.crc32c(), SoftCrc32c(data));
        EXPECT_TRUE(ReadFileOrDie(server_->RootPath(WriteName(b, j))) == data);
      } else {
        EXPECT_EQ(t.type(), v1::READ_COMPLETE) << Describe(t);
        EXPECT_TRUE(op.data == read_files[j]) << "read of " << ReadName(j) << " differs";
      }
    }
  }
  RecordProperty("events", std::to_string(events.size()));
}

INSTANTIATE_TEST_SUITE_P(Engines, SessionTest, ::testing::Values("uring", "threads"),
                         EngineName);

}  // namespace
}  // namespace overlapd::itest
