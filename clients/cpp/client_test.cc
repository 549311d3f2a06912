// Unit tests of the client parts that need no server. The end-to-end tests
// (real server, real client, loopback) live in tests/integration/.
#include <string>
#include <vector>

#include <grpcpp/support/status.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "clients/cpp/client.h"
#include "clients/cpp/client_internal.h"
#include "clients/cpp/status_macros.h"

namespace overlapd {
namespace internal {
namespace {

TEST(StatusTest, GrpcStatusKeepsCodeAndMessage) {
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
  const absl::Status status =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "no such file"));
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "no such file");
  // Every canonical code maps to the same number.
  for (int code = 1; code <= 16; ++code) {
    EXPECT_EQ(static_cast<int>(
                  FromGrpcStatus(grpc::Status(
                                     static_cast<grpc::StatusCode>(code), "x"))
                      .code()),
              code);
  }
}

TEST(StatusTest, OutOfRangeCodeIsUnknown) {
  EXPECT_EQ(CodeFromInt(-1), absl::StatusCode::kUnknown);
  EXPECT_EQ(CodeFromInt(17), absl::StatusCode::kUnknown);
  EXPECT_EQ(CodeFromInt(5), absl::StatusCode::kNotFound);
}

TEST(StatusTest, OpFailedEventCarriesCodeMessageAndPath) {
  v1::Event event;
  event.set_type(v1::OP_FAILED);
  event.set_path("a/b.txt");
  event.mutable_error()->set_code(static_cast<int>(absl::StatusCode::kNotFound));
  event.mutable_error()->set_message("No such file or directory");
  absl::Status status = EventStatus(event);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "a/b.txt: No such file or directory");

  // The path is not repeated when the server already named it.
  event.mutable_error()->set_message("open a/b.txt: No such file");
  EXPECT_EQ(EventStatus(event).message(), "open a/b.txt: No such file");
}

TEST(StatusTest, FailureWithoutCodeIsNeverOk) {
  v1::Event failed;
  failed.set_type(v1::OP_FAILED);
  EXPECT_EQ(EventStatus(failed).code(), absl::StatusCode::kUnknown);
  v1::Event cancelled;
  cancelled.set_type(v1::OP_CANCELLED);
  EXPECT_EQ(EventStatus(cancelled).code(), absl::StatusCode::kCancelled);
}

TEST(PutPlanTest, EmptyFileIsOneEmptyChunk) {
  const PutPlan plan{0, 4096};
  EXPECT_EQ(plan.chunk_count(), 1u);
  EXPECT_EQ(plan.offset(0), 0u);
  EXPECT_EQ(plan.length(0), 0u);
}

TEST(PutPlanTest, ChunksCoverTheFileExactly) {
  for (uint64_t size : {1ull, 4095ull, 4096ull, 4097ull, 3 * 4096ull + 7}) {
    const PutPlan plan{size, 4096};
    uint64_t covered = 0;
    for (uint64_t i = 0; i < plan.chunk_count(); ++i) {
      EXPECT_EQ(plan.offset(i), covered);
      EXPECT_GT(plan.length(i), 0u);
      EXPECT_LE(plan.length(i), 4096u);
      covered += plan.length(i);
    }
    EXPECT_EQ(covered, size) << "size " << size;
  }
}

TEST(PutPlanTest, TenGibFileWithDefaultChunks) {
  const uint64_t size = 10ull << 30;
  const PutPlan plan{size, EffectiveChunkBytes(0, nullptr)};
  EXPECT_EQ(plan.chunk_bytes, 4u << 20);
  EXPECT_EQ(plan.chunk_count(), 2560u);
  EXPECT_EQ(plan.length(2559), 4u << 20);
}

TEST(ChunkBytesTest, CappedByServerLimits) {
  EXPECT_EQ(EffectiveChunkBytes(4 << 20, nullptr), 4u << 20);
  v1::Capabilities caps;
  caps.set_max_op_bytes(1 << 20);
  EXPECT_EQ(EffectiveChunkBytes(4 << 20, &caps), 1u << 20);
  caps.set_max_op_bytes(0);
  caps.set_max_message_bytes(2 << 20);
  EXPECT_EQ(EffectiveChunkBytes(4 << 20, &caps), (2u << 20) - kMessageOverheadBytes);
  // Never above what the client's own channel accepts.
  EXPECT_LE(EffectiveChunkBytes(1ull << 40, nullptr),
            static_cast<uint64_t>(kMaxMessageBytes) - kMessageOverheadBytes);
}

TEST(InflightTest, DefaultsAndCaps) {
  EXPECT_EQ(EffectiveInflight(0, nullptr), 8u);
  v1::Capabilities caps;
  caps.set_max_inflight_ops_per_stream(3);
  EXPECT_EQ(EffectiveInflight(8, &caps), 3u);
  EXPECT_EQ(EffectiveInflight(2, &caps), 2u);
}

TEST(PathTest, ParentDir) {
  EXPECT_EQ(ParentDir("a/b/c"), "a/b");
  EXPECT_EQ(ParentDir("c"), ".");
  EXPECT_EQ(ParentDir("a/b/"), "a");
}

TEST(PathTest, TempNameIsHiddenSiblingWithRandomSuffix) {
  EXPECT_EQ(TempNameFor("dir/sub/file.bin", 0xabc),
            "dir/sub/.file.bin.overlap-tmp-0000000000000abc");
  EXPECT_EQ(TempNameFor("file", 1), ".file.overlap-tmp-0000000000000001");
}

class ReorderBufferTest : public ::testing::Test {
 protected:
  ReorderBuffer buffer_{100, [this](absl::string_view data) {
                          out_.append(data.data(), data.size());
                          return absl::OkStatus();
                        }};
  std::string out_;
};

TEST_F(ReorderBufferTest, EmitsInOrderWhateverTheArrivalOrder) {
  ASSERT_TRUE(buffer_.Add(106, "ghi").ok());
  ASSERT_TRUE(buffer_.Add(103, "def").ok());
  EXPECT_EQ(out_, "");
  EXPECT_EQ(buffer_.buffered_bytes(), 6u);
  ASSERT_TRUE(buffer_.Add(100, "abc").ok());
  EXPECT_EQ(out_, "abcdefghi");
  EXPECT_EQ(buffer_.next_offset(), 109u);
  EXPECT_EQ(buffer_.buffered_bytes(), 0u);
}

TEST_F(ReorderBufferTest, StopsAtAGap) {
  ASSERT_TRUE(buffer_.Add(100, "ab").ok());
  ASSERT_TRUE(buffer_.Add(104, "ef").ok());
  EXPECT_EQ(out_, "ab");
  EXPECT_EQ(buffer_.next_offset(), 102u);
  EXPECT_EQ(buffer_.buffered_bytes(), 2u);
}

TEST_F(ReorderBufferTest, RejectsOverlaps) {
  ASSERT_TRUE(buffer_.Add(100, "abcd").ok());
  EXPECT_EQ(buffer_.Add(102, "xy").code(), absl::StatusCode::kDataLoss);
  ASSERT_TRUE(buffer_.Add(110, "abcd").ok());
  EXPECT_EQ(buffer_.Add(112, "z").code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(buffer_.Add(108, "zzz").code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(out_, "abcd");
}

TEST(ReorderBufferSinkTest, SinkErrorStopsTheRead) {
  ReorderBuffer buffer(0, [](absl::string_view) {
    return absl::ResourceExhaustedError("disk full");
  });
  EXPECT_EQ(buffer.Add(0, "x").code(), absl::StatusCode::kResourceExhausted);
}

absl::Status FailIf(bool fail) {
  return fail ? absl::InternalError("boom") : absl::OkStatus();
}
absl::StatusOr<int> ValueOr(bool fail) {
  if (fail) return absl::NotFoundError("none");
  return 7;
}
absl::Status UseMacros(bool fail_first, bool fail_second, int* out) {
  OVERLAP_RETURN_IF_ERROR(FailIf(fail_first));
  OVERLAP_ASSIGN_OR_RETURN(*out, ValueOr(fail_second));
  return absl::OkStatus();
}

TEST(MacrosTest, ReturnAndAssign) {
  int value = 0;
  EXPECT_EQ(UseMacros(true, false, &value).code(), absl::StatusCode::kInternal);
  EXPECT_EQ(UseMacros(false, true, &value).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(UseMacros(false, false, &value).ok());
  EXPECT_EQ(value, 7);
}

TEST(ClientTest, ConnectRefusesEmptyTarget) {
  EXPECT_EQ(Client::Connect("").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ClientTest, UnreachableServerIsUnavailable) {
  // Port 1 on loopback: nothing listens there; the channel fails fast
  // (no wait_for_ready).
  auto client = Client::Connect("127.0.0.1:1");
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*client)->Capabilities().status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(ClientTest, PutOfMissingLocalFileIsNotFound) {
  auto client = Client::Connect("127.0.0.1:1");
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*client)->PutFile("/nonexistent/overlap-test", "x").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace internal
}  // namespace overlapd
