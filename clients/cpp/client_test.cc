// Unit tests of the client parts that need no server. The end-to-end tests
// (real server, real client, loopback) live in tests/integration/.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/support/status.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/cpp/batch_json.h"
#include "clients/cpp/cli_common.h"
#include "clients/cpp/client.h"
#include "clients/cpp/client_internal.h"
#include "clients/cpp/commands_health.h"
#include "clients/cpp/commands_jobs.h"
#include "ioengine/status_macros.h"

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

TEST(StatusTest, EmptyMessageNamesTheRpc) {
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, ""),
                           "Submit")
                .message(),
            "the server does not implement Submit");
  const absl::Status unavailable =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, ""), "GetJob");
  EXPECT_EQ(unavailable.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StartsWith(unavailable.message(), "GetJob")) << unavailable;
  // A server's own message is kept as it is.
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "no job"),
                           "GetJob")
                .message(),
            "no job");
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK, "GetJob").ok());
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

TEST(ChunkPlanTest, EmptyFileIsOneEmptyChunk) {
  const ChunkPlan plan{0, 4096};
  EXPECT_EQ(plan.chunk_count(), 1u);
  EXPECT_EQ(plan.offset(0), 0u);
  EXPECT_EQ(plan.length(0), 0u);
}

TEST(ChunkPlanTest, ChunksCoverTheFileExactly) {
  for (uint64_t size : {1ull, 4095ull, 4096ull, 4097ull, 3 * 4096ull + 7}) {
    const ChunkPlan plan{size, 4096};
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

TEST(ChunkPlanTest, TenGibFileWithDefaultChunks) {
  const uint64_t size = 10ull << 30;
  const ChunkPlan plan{size, EffectiveChunkBytes(0, nullptr)};
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

TEST(ChunkBytesTest, AtomicPutUsesOneOpUpToMaxOpBytes) {
  // Without server limits the upload chunk decides.
  EXPECT_EQ(SingleWriteOpBytes(nullptr, 4u << 20), 4u << 20);
  v1::Capabilities caps;
  EXPECT_EQ(SingleWriteOpBytes(&caps, 4u << 20), 4u << 20);
  // A 16 MiB limit lets a 16 MiB file go as one REPLACE_ATOMIC op, even
  // though uploads use 4 MiB chunks.
  caps.set_max_op_bytes(16u << 20);
  EXPECT_EQ(SingleWriteOpBytes(&caps, 4u << 20), 16u << 20);
  // Still bounded by the message size.
  caps.set_max_message_bytes(8u << 20);
  EXPECT_EQ(SingleWriteOpBytes(&caps, 4u << 20),
            (8u << 20) - kMessageOverheadBytes);
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
  OVERLAPD_RETURN_IF_ERROR(FailIf(fail_first));
  OVERLAPD_ASSIGN_OR_RETURN(*out, ValueOr(fail_second));
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

// ---------------------------------------------------------------------------
// The JSON batch format of `overlap submit`.
// ---------------------------------------------------------------------------
namespace {

constexpr char kBriefExample[] = R"({"label": "nightly", "ops": [
  {"tag": "1", "copy": {"src": "a.txt", "dst": "a.txt.bak"}},
  {"tag": "2", "read": {"path": "b.bin"}},
  {"write": {"path": "c.txt", "data": "aGVsbG8=", "mode": "WRITE_MODE_CREATE_NEW"},
   "linkNext": true},
  {"fsync": {"path": "c.txt"}}]})";

TEST(BatchJsonTest, ParsesTheDocumentedExample) {
  absl::StatusOr<v1::Batch> batch = ParseBatchJson(kBriefExample, "b.json");
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->label(), "nightly");
  ASSERT_EQ(batch->ops_size(), 4);
  EXPECT_EQ(batch->ops(0).tag(), 1u);
  EXPECT_EQ(batch->ops(0).copy().src(), "a.txt");
  EXPECT_EQ(batch->ops(0).copy().dst(), "a.txt.bak");
  EXPECT_EQ(batch->ops(1).tag(), 2u);
  EXPECT_EQ(batch->ops(1).read().path(), "b.bin");
  EXPECT_EQ(batch->ops(2).write().data(), "hello");  // base64 decoded
  EXPECT_EQ(batch->ops(2).write().mode(), v1::WRITE_MODE_CREATE_NEW);
  EXPECT_TRUE(batch->ops(2).link_next());
  EXPECT_FALSE(batch->ops(3).link_next());
  EXPECT_EQ(batch->ops(3).fsync().path(), "c.txt");
}

TEST(BatchJsonTest, AcceptsProtoNamesAndNumbers) {
  absl::StatusOr<v1::Batch> batch = ParseBatchJson(
      R"({"ops": [{"tag": 7, "link_next": true,
                   "write": {"path": "x", "expected_crc32c": 5,
                             "durability": "DURABILITY_FULL", "mode": 4}},
                  {"delete": {"path": "d", "directory": true}},
                  {"mkdir": {"path": "m/n", "parents": true}},
                  {"rename": {"src": "a", "dst": "b", "noReplace": true}}]})",
      "b.json");
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->ops(0).tag(), 7u);
  EXPECT_TRUE(batch->ops(0).link_next());
  EXPECT_EQ(batch->ops(0).write().expected_crc32c(), 5u);
  EXPECT_EQ(batch->ops(0).write().durability(), v1::DURABILITY_FULL);
  EXPECT_EQ(batch->ops(0).write().mode(), v1::WRITE_MODE_REPLACE_ATOMIC);
  EXPECT_TRUE(batch->ops(1).delete_().directory());
  EXPECT_TRUE(batch->ops(2).mkdir().parents());
  EXPECT_TRUE(batch->ops(3).rename().no_replace());
}

// Each bad input is INVALID_ARGUMENT, names the file, says what is wrong,
// and fits on the one stderr line the CLI prints.
void ExpectBad(const std::string& json, const std::string& expected_part) {
  absl::Status status = ParseBatchJson(json, "nightly.json").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << json;
  EXPECT_TRUE(absl::StartsWith(status.message(), "nightly.json: ")) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), expected_part)) << status;
  EXPECT_FALSE(absl::StrContains(status.message(), "\n")) << status;
}

TEST(BatchJsonTest, ErrorsNameTheFileAndTheProblem) {
  ExpectBad(R"({"ops": [ )", "Unexpected end of string");
  // A syntax error deep in a file says where, on one line.
  ExpectBad("{\"label\": \"x\",\n \"ops\": [{\"stat\": {\"path\": \"a\"}\n }] } oops\n",
            "line 3, column 7: Parsing terminated before end of input. At >>> "
            "in: {\"path\": \"a\"}  }] } >>>oops");
  ExpectBad(R"({"ops": []} trailing)", ">>>trailing");
  ExpectBad(R"({"ops": [{"tagg": 1}]})", "tagg: Cannot find field");
  ExpectBad(R"({"ops": [{"write": {"mode": "WRITE_MODE_BOGUS"}}]})",
            "WRITE_MODE_BOGUS");
  ExpectBad(R"({"ops": [{"write": {"data": "!!!"}}]})", "ops[0].write.data");
  ExpectBad(R"({"ops": [{"copy": {"src": "a"}, "read": {"path": "b"}}]})",
            "already set");
  ExpectBad(R"({"ops": [{"tag": -1, "stat": {"path": "a"}}]})", "-1");
  ExpectBad(R"([1, 2])", "Root element must be a message");
  ExpectBad(R"({"label": "x"})", "the batch has no ops");
  ExpectBad(R"({"ops": [{"stat": {"path": "a"}}, {"tag": "3"}]})",
            "ops[1] has no operation");
}

TEST(BatchJsonTest, LoadsAFileAndReportsAMissingOne) {
  const std::string path =
      ::testing::TempDir() + "/overlap_batch_json_test.json";
  {
    std::ofstream out(path);
    out << kBriefExample;
  }
  absl::StatusOr<v1::Batch> batch = LoadBatchJsonFile(path);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->ops_size(), 4);
  {
    std::ofstream out(path);
    out << R"({"ops": [{"bogus": {}}]})";
  }
  absl::Status status = LoadBatchJsonFile(path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(status.message(), path + ": ")) << status;
  std::remove(path.c_str());

  status = LoadBatchJsonFile("/nonexistent/overlap.json").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(status.message(), "/nonexistent/overlap.json"));
}

}  // namespace

// ---------------------------------------------------------------------------
// CLI pieces: --type names, the backup batch, output formats.
// ---------------------------------------------------------------------------
namespace cli {
namespace {

TEST(EventTypeNameTest, AcceptsNamesInAnyCase) {
  EXPECT_EQ(*ParseEventTypeName("COPY_COMPLETE"), v1::COPY_COMPLETE);
  EXPECT_EQ(*ParseEventTypeName("copy_complete"), v1::COPY_COMPLETE);
  EXPECT_EQ(*ParseEventTypeName("copy-complete"), v1::COPY_COMPLETE);
  EXPECT_EQ(*ParseEventTypeName("Op_Failed"), v1::OP_FAILED);
  EXPECT_EQ(*ParseEventTypeName("events_lost"), v1::EVENTS_LOST);
}

TEST(EventTypeNameTest, RefusesUnknownNamesAndListsTheValidOnes) {
  for (const char* bad :
       {"", "bogus", "copy", "EVENT_TYPE_UNSPECIFIED", "4", " copy_complete"}) {
    absl::StatusOr<v1::EventType> type = ParseEventTypeName(bad);
    EXPECT_EQ(type.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  const std::string message(ParseEventTypeName("bogus").status().message());
  EXPECT_TRUE(absl::StrContains(message, "'bogus'")) << message;
  EXPECT_TRUE(absl::StrContains(message, "READ_CHUNK")) << message;
  EXPECT_TRUE(absl::StrContains(message, "EVENTS_LOST")) << message;
  EXPECT_FALSE(absl::StrContains(message, "UNSPECIFIED")) << message;
}

TEST(BackupBatchTest, OneCopyPerPathToPathDotBak) {
  absl::StatusOr<v1::Batch> batch =
      BuildBackupBatch({"a.txt", "dir/b.bin", "c/"}, /*durable=*/false, "");
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->ops_size(), 3);
  const char* const dsts[] = {"a.txt.bak", "dir/b.bin.bak", "c.bak"};
  for (int i = 0; i < 3; ++i) {
    const v1::Op& op = batch->ops(i);
    ASSERT_TRUE(op.has_copy());
    EXPECT_EQ(op.tag(), static_cast<uint64_t>(i + 1));
    EXPECT_FALSE(op.link_next());  // independent: they run overlapped
    EXPECT_EQ(op.copy().dst(), dsts[i]);
    EXPECT_EQ(op.copy().durability(), v1::DURABILITY_NONE);
  }
  EXPECT_EQ(batch->ops(1).copy().src(), "dir/b.bin");
  EXPECT_EQ(batch->label(), "backup a.txt +2 more");
}

TEST(BackupBatchTest, DurableAndLabels) {
  absl::StatusOr<v1::Batch> batch = BuildBackupBatch({"a"}, true, "");
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->ops(0).copy().durability(), v1::DURABILITY_FULL);
  EXPECT_EQ(batch->label(), "backup a");
  EXPECT_EQ(BuildBackupBatch({"a"}, false, "nightly")->label(), "nightly");
}

TEST(BackupBatchTest, RefusesBatchesThatWouldRace) {
  EXPECT_EQ(BuildBackupBatch({}, false, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildBackupBatch({"a", ""}, false, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildBackupBatch({"a", "b", "a"}, false, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  // a -> a.bak while a.bak -> a.bak.bak reads it.
  absl::Status status = BuildBackupBatch({"a", "a.bak"}, false, "").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(status.message(), "a.bak")) << status;
}

TEST(FormatTest, Age) {
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  auto ns_before = [&](absl::Duration d) {
    return absl::ToUnixNanos(now - d);
  };
  EXPECT_EQ(FormatAge(0, now), "-");
  EXPECT_EQ(FormatAge(ns_before(absl::Seconds(42)), now), "42s");
  EXPECT_EQ(FormatAge(ns_before(absl::Minutes(17)), now), "17m");
  EXPECT_EQ(FormatAge(ns_before(absl::Hours(5)), now), "5h");
  EXPECT_EQ(FormatAge(ns_before(absl::Hours(73)), now), "3d");
  // A server clock ahead of ours is not a negative age.
  EXPECT_EQ(FormatAge(ns_before(-absl::Seconds(5)), now), "0s");
}

v1::Job SampleJob() {
  v1::Job job;
  job.set_id(42);
  job.set_state(v1::FAILED);
  job.set_label("nightly run");
  job.set_ops_total(3);
  job.set_ops_done(3);
  job.set_ops_failed(1);
  job.set_bytes_read(2048);
  job.set_bytes_written(1u << 20);
  job.set_created_ns(1'700'000'000'000'000'000);
  job.set_started_ns(1'700'000'000'000'000'000);
  job.set_finished_ns(1'700'000'001'500'000'000);
  return job;
}

TEST(FormatTest, JobOutputs) {
  const v1::Job job = SampleJob();
  const nlohmann::json object = JobJson(job);
  // 64-bit integers are strings (exact past 2^53); 32-bit ones numbers.
  EXPECT_EQ(object["id"], "42");
  EXPECT_EQ(object["state"], "FAILED");
  EXPECT_EQ(object["ops_failed"], 1);
  EXPECT_EQ(object["bytes_written"], "1048576");
  EXPECT_EQ(object["created_ns"], "1700000000000000000");
  EXPECT_EQ(object["created"], "2023-11-14T22:13:20Z");
  v1::Job queued;
  EXPECT_TRUE(JobJson(queued)["started"].is_null());

  const std::string row =
      JobRow(job, absl::FromUnixSeconds(1'700'000'060));
  EXPECT_TRUE(absl::StartsWith(row, "42 ")) << row;
  for (const char* part : {"FAILED", "3/3", "2.0 KiB", "1.0 MiB", "1m",
                           "nightly run"}) {
    EXPECT_TRUE(absl::StrContains(row, part)) << part << " in " << row;
  }
  EXPECT_TRUE(absl::EndsWith(row, " nightly run")) << row;  // label last

  EXPECT_EQ(JobSummary(job),
            "job 42 FAILED: 3/3 ops done, 1 failed, 0 cancelled, 2.0 KiB "
            "read, 1.0 MiB written in 1.5s");
  v1::Job instant = job;
  instant.set_finished_ns(instant.started_ns() + 300'000);
  EXPECT_TRUE(absl::EndsWith(JobSummary(instant), " in <1ms"))
      << JobSummary(instant);
  v1::Job running = job;
  running.set_finished_ns(0);
  EXPECT_TRUE(absl::EndsWith(JobSummary(running), " written"))
      << JobSummary(running);
}

TEST(FormatTest, JobOutcomeIsTheWaitExitStatus) {
  v1::Job job = SampleJob();
  EXPECT_EQ(JobOutcome(job).code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(absl::StrContains(JobOutcome(job).message(), "1 of 3 ops failed"));
  job.set_state(v1::CANCELLED);
  EXPECT_EQ(JobOutcome(job).code(), absl::StatusCode::kCancelled);
  job.set_state(v1::SUCCEEDED);
  EXPECT_TRUE(JobOutcome(job).ok());
  job.set_state(v1::RUNNING);
  EXPECT_EQ(JobOutcome(job).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(FormatTest, EventLines) {
  v1::Event event;
  event.set_seq(17);
  event.set_job_id(42);
  event.set_tag(2);
  event.set_type(v1::COPY_COMPLETE);
  event.set_path("a.txt.bak");
  event.set_bytes(5);
  event.set_crc32c(0xabc);
  EXPECT_EQ(EventLine(event), "17 42 2 COPY_COMPLETE a.txt.bak 0 5 00000abc");

  event.set_type(v1::OP_FAILED);
  event.mutable_error()->set_code(static_cast<int>(absl::StatusCode::kNotFound));
  event.mutable_error()->set_errno_value(2);
  event.mutable_error()->set_message("No such file or directory");
  EXPECT_EQ(EventLine(event),
            "17 42 2 OP_FAILED a.txt.bak 0 5 00000abc NOT_FOUND: a.txt.bak: "
            "No such file or directory");
  nlohmann::json object = EventJson(event, internal::EventStatus(event));
  EXPECT_EQ(object["seq"], "17");  // 64-bit: strings
  EXPECT_EQ(object["job_id"], "42");
  EXPECT_EQ(object["type"], "OP_FAILED");
  EXPECT_EQ(object["crc32c"], "00000abc");
  EXPECT_EQ(object["error"]["code"], "NOT_FOUND");
  EXPECT_EQ(object["error"]["errno"], 2);
  EXPECT_FALSE(object.contains("count"));

  v1::Event lost;
  lost.set_seq(100);
  lost.set_type(v1::EVENTS_LOST);
  lost.set_count(50);
  lost.set_first_seq(40);
  lost.set_last_seq(89);
  EXPECT_EQ(EventLine(lost),
            "100 0 0 EVENTS_LOST - 0 0 00000000 lost=50 first_seq=40 "
            "last_seq=89");
  object = EventJson(lost, absl::OkStatus());
  EXPECT_EQ(object["count"], "50");
  EXPECT_EQ(object["last_seq"], "89");
  EXPECT_FALSE(object.contains("error"));
}

}  // namespace
}  // namespace cli

// ---------------------------------------------------------------------------
// The job, subscription and single-op calls against an in-process stand-in
// for the server. Why a stand-in: these tests pin the client's side of the
// contract (stopping a stream cleanly, paging, polling, OP_FAILED -> status)
// including server misbehaviour a real server cannot be made to show (a page
// token that never advances); the real round trips belong to
// tests/integration/.
// ---------------------------------------------------------------------------
namespace {

class StandInService final : public v1::IoService::Service {
 public:
  std::atomic<bool> subscribe_cancelled{false};
  std::atomic<int> get_job_calls{0};
  bool stuck_page_token = false;
  int running_polls = 2;  // GetJob answers RUNNING this often, then SUCCEEDED

  grpc::Status Execute(grpc::ServerContext*, const v1::Batch* batch,
                       grpc::ServerWriter<v1::EventBatch>* writer) override {
    v1::EventBatch events;
    for (int i = 0; i < batch->ops_size(); ++i) {
      const v1::Op& op = batch->ops(i);
      v1::Event* event = events.add_events();
      event->set_tag(op.tag());
      event->set_op_index(i);
      if (op.has_copy() && op.copy().src() == "missing") {
        event->set_type(v1::OP_FAILED);
        event->set_path("missing");
        event->mutable_error()->set_code(grpc::StatusCode::NOT_FOUND);
        event->mutable_error()->set_message("No such file or directory");
      } else if (op.has_copy()) {
        event->set_type(v1::COPY_COMPLETE);
        event->set_bytes(1234);
      } else if (op.has_delete_()) {
        if (!op.delete_().directory()) {
          event->set_type(v1::OP_FAILED);
          event->set_path(op.delete_().path());
          event->mutable_error()->set_code(
              grpc::StatusCode::FAILED_PRECONDITION);
          event->mutable_error()->set_message("Is a directory");
        } else {
          event->set_type(v1::DELETE_COMPLETE);
        }
      } else {
        return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "op not here");
      }
    }
    events.add_events()->set_type(v1::BATCH_COMPLETE);
    writer->Write(events);
    return grpc::Status::OK;
  }

  grpc::Status Submit(grpc::ServerContext*, const v1::Batch* batch,
                      v1::Job* job) override {
    job->set_id(7);
    job->set_state(v1::QUEUED);
    job->set_label(batch->label());
    job->set_ops_total(batch->ops_size());
    return grpc::Status::OK;
  }

  grpc::Status GetJob(grpc::ServerContext*, const v1::GetJobRequest* request,
                      v1::Job* job) override {
    if (request->id() != 7) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no job");
    }
    const int call = ++get_job_calls;
    job->set_id(7);
    job->set_ops_total(2);
    job->set_state(call > running_polls ? v1::SUCCEEDED : v1::RUNNING);
    return grpc::Status::OK;
  }

  // Five jobs, ids 5..1 (newest first), in pages of page_size (default 2).
  grpc::Status ListJobs(grpc::ServerContext*,
                        const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override {
    const int size = request->page_size() == 0 ? 2 : request->page_size();
    const int start =
        request->page_token().empty() ? 0 : std::stoi(request->page_token());
    for (int i = start; i < std::min(5, start + size); ++i) {
      response->add_jobs()->set_id(5 - i);
    }
    if (stuck_page_token) {
      response->set_next_page_token("0");
    } else if (start + size < 5) {
      response->set_next_page_token(std::to_string(start + size));
    }
    return grpc::Status::OK;
  }

  // One event every millisecond, seq 1, 2, ..., until the client cancels.
  grpc::Status Subscribe(grpc::ServerContext* context,
                         const v1::SubscribeRequest* request,
                         grpc::ServerWriter<v1::EventBatch>* writer) override {
    if (request->path_prefix() == "fail") {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too many");
    }
    for (uint64_t seq = 1; !context->IsCancelled(); ++seq) {
      v1::EventBatch events;
      events.add_events()->set_seq(seq);
      if (!writer->Write(events)) break;
      absl::SleepFor(absl::Milliseconds(1));
    }
    subscribe_cancelled = context->IsCancelled();
    return grpc::Status::OK;
  }
};

class StandInTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    auto client = Client::Connect(absl::StrCat("127.0.0.1:", port));
    ASSERT_TRUE(client.ok());
    client_ = *std::move(client);
  }
  void TearDown() override {
    client_.reset();
    if (server_) server_->Shutdown();
  }

  StandInService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(StandInTest, SubscribeStopsWhenTheCallbackSaysSo) {
  std::vector<uint64_t> seqs;
  const absl::Status status =
      client_->Subscribe(v1::SubscribeRequest(), [&](const v1::Event& event) {
        seqs.push_back(event.seq());
        return seqs.size() < 3;
      });
  EXPECT_TRUE(status.ok()) << status;  // not CANCELLED: we asked to stop
  EXPECT_EQ(seqs, (std::vector<uint64_t>{1, 2, 3}));
  // The server saw the call cancelled, so it stops producing.
  for (int i = 0; i < 200 && !service_.subscribe_cancelled; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_TRUE(service_.subscribe_cancelled);
}

TEST_F(StandInTest, SubscribeStopsFromAnotherThread) {
  SubscribeStop stop;
  std::atomic<int> seen{0};
  std::thread stopper([&] {
    // Bounded, so a broken Subscribe fails the test instead of hanging it.
    for (int i = 0; i < 5000 && seen < 5; ++i) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    stop.Stop();
  });
  const absl::Status status = client_->Subscribe(
      v1::SubscribeRequest(),
      [&](const v1::Event&) {
        ++seen;
        return true;
      },
      &stop);
  stopper.join();
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_GE(seen, 5);
  EXPECT_TRUE(stop.stopped());
  // One-shot: a stopped token ends the next Subscribe at once.
  EXPECT_TRUE(client_->Subscribe(v1::SubscribeRequest(),
                                 [](const v1::Event&) {
                                   ADD_FAILURE() << "no event expected";
                                   return true;
                                 },
                                 &stop)
                  .ok());
}

TEST_F(StandInTest, SubscribeReturnsTheServersError) {
  v1::SubscribeRequest request;
  request.set_path_prefix("fail");
  const absl::Status status =
      client_->Subscribe(request, [](const v1::Event&) { return true; });
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "too many");
}

TEST_F(StandInTest, ListAllJobsFollowsPagesUpToTheLimit) {
  absl::StatusOr<std::vector<v1::Job>> all = client_->ListAllJobs(0);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ((*all)[0].id(), 5u);
  EXPECT_EQ((*all)[4].id(), 1u);
  absl::StatusOr<std::vector<v1::Job>> three = client_->ListAllJobs(3);
  ASSERT_TRUE(three.ok()) << three.status();
  ASSERT_EQ(three->size(), 3u);
  EXPECT_EQ((*three)[2].id(), 3u);
}

TEST_F(StandInTest, ListAllJobsRefusesATokenThatNeverAdvances) {
  service_.stuck_page_token = true;
  EXPECT_EQ(client_->ListAllJobs(0).status().code(),
            absl::StatusCode::kInternal);
}

TEST_F(StandInTest, SubmitThenWaitPollsUntilTheJobEnds) {
  absl::StatusOr<v1::Batch> batch = cli::BuildBackupBatch({"a", "b"}, false, "");
  ASSERT_TRUE(batch.ok());
  absl::StatusOr<v1::Job> job = client_->Submit(*batch);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->id(), 7u);
  EXPECT_EQ(job->ops_total(), 2u);
  EXPECT_EQ(job->label(), "backup a +1 more");
  int polls = 0;
  absl::StatusOr<v1::Job> done =
      client_->WaitJob(job->id(), absl::Milliseconds(1),
                       absl::InfiniteDuration(),
                       [&](const v1::Job&) { ++polls; });
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), v1::SUCCEEDED);
  EXPECT_EQ(polls, 3);
  EXPECT_EQ(client_->GetJob(99).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(StandInTest, WaitJobGivesUpAtTheTimeout) {
  service_.running_polls = 1 << 30;
  const absl::Time start = absl::Now();
  absl::Status status =
      client_->WaitJob(7, absl::Milliseconds(20), absl::Milliseconds(100))
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(absl::StrContains(status.message(), "job 7 still RUNNING"))
      << status;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(StandInTest, SingleOpHelpersTurnOpFailedIntoAStatus) {
  absl::StatusOr<uint64_t> copied = client_->Copy("a", "b");
  ASSERT_TRUE(copied.ok()) << copied.status();
  EXPECT_EQ(*copied, 1234u);
  absl::Status status = client_->Copy("missing", "b").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "missing: No such file or directory");
  EXPECT_TRUE(client_->Delete("old", /*directory=*/true).ok());
  status = client_->Delete("old");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "old: Is a directory");
  // An op the server refuses for the whole batch.
  EXPECT_EQ(client_->Mkdir("m").code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace overlapd

namespace overlapd::cli {
namespace {

TEST(HealthCommandTest, EncodesRequestsAndDecodesStatuses) {
  EXPECT_EQ(EncodeHealthRequest(""), "");
  EXPECT_EQ(EncodeHealthRequest("overlapd.v1.IoService"),
            std::string("\x0a\x15") + "overlapd.v1.IoService");
  EXPECT_EQ(EncodeHealthRequest(std::string(200, 'x')).substr(0, 3), "\x0a\xc8\x01");
  EXPECT_EQ(DecodeHealthStatus(std::string("\x08\x01", 2)).value(), "SERVING");
  EXPECT_EQ(DecodeHealthStatus(std::string("\x08\x02", 2)).value(), "NOT_SERVING");
  EXPECT_EQ(DecodeHealthStatus(std::string("\x08\x03", 2)).value(), "SERVICE_UNKNOWN");
  EXPECT_EQ(DecodeHealthStatus("").value(), "UNKNOWN");
  EXPECT_FALSE(DecodeHealthStatus("\x0a\x01x").ok());
}

}  // namespace
}  // namespace overlapd::cli
