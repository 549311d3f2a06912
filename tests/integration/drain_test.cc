// SIGTERM drains: calls in flight finish (a durable write is acknowledged
// and on disk), new connections are refused, and the server exits 0.
#include <signal.h>
#include <sys/stat.h>

#include <map>
#include <string>
#include <vector>
#include <thread>

#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include "tests/integration/server_test.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

constexpr size_t kWriteBytes = 64u << 20;  // the default --max-op-bytes

// A fresh connection's call: must be refused once the server drains or is gone.
grpc::Status ProbeNewConnection(const ServerProcess& server) {
  auto stub = server.NewStub();
  grpc::ClientContext context;
  context.set_deadline(system_clock::now() + seconds(5));
  v1::Capabilities caps;
  return stub->GetCapabilities(&context, {}, &caps);
}

class DrainTest : public ServerTest {
 protected:
  // One server, one Session with a durable write in flight, SIGTERM; sets
  // `caught` when the write had not completed when the signal went.
  void SessionDrain(bool* caught);
};

void DrainTest::SessionDrain(bool* caught) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--drain-seconds", "30"}));
  auto stub = server_->NewStub();
  grpc::ClientContext context;
  context.set_deadline(system_clock::now() + seconds(60));
  auto stream = stub->Session(&context);

  // One batch: the big durable write, and a tiny read that completes long
  // before it. Its READ_COMPLETE proves the batch is in the engine (a batch
  // is submitted whole), so SIGTERM finds the write in flight, not a batch
  // still on the wire (which a stopping server may refuse to start).
  WriteFileOrDie(server_->RootPath("hello.txt"), "hello\n");
  const std::string data = RandomBytes(kWriteBytes, 64);
  v1::Batch batch;
  batch.set_tag(2);
  *batch.add_ops() = WriteOp(20, "big.bin", data, v1::WRITE_MODE_CREATE_NEW, v1::DURABILITY_DATA);
  *batch.add_ops() = ReadOp(21, "hello.txt");
  ASSERT_TRUE(stream->Write(batch));
  ASSERT_TRUE(stream->WritesDone());
  std::vector<v1::Event> events;
  bool marker = false, write_done_before_sigterm = false;
  v1::EventBatch message;
  for (int guard = 0; guard < 1000 && !marker && stream->Read(&message); ++guard) {
    for (const v1::Event& e : message.events()) {
      events.push_back(e);
      marker |= e.tag() == 21 && e.type() == v1::READ_COMPLETE;
      write_done_before_sigterm |= e.tag() == 20;
    }
  }
  ASSERT_TRUE(marker) << "no READ_COMPLETE for the marker read";
  server_->Signal(SIGTERM);

  // Soon a new connection must be refused, whether the server is still
  // draining or already gone. Not at once: main.cc logs "draining" before
  // it calls Server::Shutdown, and a call can slip in between.
  const auto sigterm_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(server_->WaitForLog("draining", seconds(10))) << "no drain log line";
  grpc::Status probe;
  int accepted_after_sigterm = 0;
  for (int i = 0; i < 100; ++i) {
    probe = ProbeNewConnection(*server_);
    if (!probe.ok()) break;
    ++accepted_after_sigterm;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double refused_after_ms = std::chrono::duration<double, std::milli>(
                                      std::chrono::steady_clock::now() - sigterm_at).count();
  EXPECT_EQ(probe.error_code(), grpc::StatusCode::UNAVAILABLE)
      << "new calls after SIGTERM got: " << probe.error_code() << " " << probe.error_message();
  RecordProperty("calls_accepted_after_sigterm", accepted_after_sigterm);

  // The call in flight still gets the write's completion and a clean end:
  // OK, or UNAVAILABLE, which a stopping server gives a Session whose
  // half-close it had not seen ("batches after the last BATCH_COMPLETE were
  // not run": there are none here).
  for (int guard = 0; guard < 1000 && stream->Read(&message); ++guard) {
    for (const v1::Event& e : message.events()) events.push_back(e);
  }
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok() || status.error_code() == grpc::StatusCode::UNAVAILABLE)
      << status.error_code() << ": " << status.error_message();
  std::map<uint64_t, OpOutcome> ops = GroupByTag(events);
  ASSERT_EQ(ops[20].terminal_events, 1) << "the write in flight at SIGTERM never completed";
  const v1::Event& w = *ops[20].terminal();
  EXPECT_EQ(w.type(), v1::WRITE_COMPLETE) << Describe(w);
  EXPECT_EQ(w.bytes(), kWriteBytes);
  EXPECT_EQ(w.crc32c(), SoftCrc32c(data));
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().type(), v1::BATCH_COMPLETE);
  EXPECT_EQ(events.back().tag(), 2u);

  absl::StatusOr<int> exit_status = server_->Wait(seconds(40));
  ASSERT_TRUE(exit_status.ok()) << exit_status.status();
  EXPECT_EQ(*exit_status, 0);
  EXPECT_TRUE(ReadFileOrDie(server_->RootPath("big.bin")) == data) << "acknowledged write lost";
  grpc::Status after = ProbeNewConnection(*server_);
  EXPECT_EQ(after.error_code(), grpc::StatusCode::UNAVAILABLE) << after.error_message();
  *caught = !write_done_before_sigterm;
  std::printf("Session drain: write in flight at SIGTERM: %s, status %d; new calls refused "
              "%.0f ms after SIGTERM (%d accepted before)\n",
              write_done_before_sigterm ? "no" : "yes", static_cast<int>(status.error_code()),
              refused_after_ms, accepted_after_sigterm);
}

// The drain must finish a durable write that is still in flight when
// SIGTERM comes. It nearly always is (a 64 MiB fdatasync takes far longer
// than the 6-byte marker read); a round where it had already completed
// proves nothing about the drain, so another round runs, up to three.
TEST_F(DrainTest, SessionInFlightFinishesItsDurableWrite) {
  bool caught = false;
  int rounds = 0;
  while (!caught && rounds < 3) {
    ++rounds;
    ASSERT_NO_FATAL_FAILURE(SessionDrain(&caught));
  }
  RecordProperty("rounds", rounds);
  EXPECT_TRUE(caught) << "nothing tested: in " << rounds
                      << " rounds the write completed before SIGTERM";
}

TEST_F(DrainTest, ExecuteRacingSigtermEndsCleanly) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--drain-seconds", "30"}));
  auto stub = server_->NewStub();
  {  // Connect first, so the race is with the call, not the connection.
    grpc::ClientContext context;
    v1::Capabilities caps;
    ASSERT_TRUE(stub->GetCapabilities(&context, {}, &caps).ok());
  }
  const std::string data = RandomBytes(kWriteBytes, 65);
  v1::Batch batch;
  *batch.add_ops() = WriteOp(1, "raced.bin", data, v1::WRITE_MODE_CREATE_NEW, v1::DURABILITY_DATA);
  grpc::ClientContext context;
  context.set_deadline(system_clock::now() + seconds(60));
  // The sync call has sent its request when Execute returns.
  auto reader = stub->Execute(&context, batch);
  server_->Signal(SIGTERM);
  std::vector<v1::Event> events;
  v1::EventBatch message;
  for (int guard = 0; guard < 1000 && reader->Read(&message); ++guard) {
    for (const v1::Event& e : message.events()) events.push_back(e);
  }
  grpc::Status status = reader->Finish();
  absl::StatusOr<int> exit_status = server_->Wait(seconds(40));
  ASSERT_TRUE(exit_status.ok()) << exit_status.status();
  EXPECT_EQ(*exit_status, 0);

  // Either the call got in and completed in full, or it was refused without
  // doing anything; never a half state.
  bool completed = false;
  for (const v1::Event& e : events) completed |= e.type() == v1::WRITE_COMPLETE;
  if (status.ok()) {
    EXPECT_TRUE(completed) << "OK status without WRITE_COMPLETE";
    EXPECT_TRUE(ReadFileOrDie(server_->RootPath("raced.bin")) == data);
    RecordProperty("outcome", "completed");
  } else {
    // UNAVAILABLE: refused at the door. CANCELLED: gRPC's Shutdown cancels
    // a call whose request had not been handed to the service yet (the
    // 64 MiB message was still arriving). Both mean "not done".
    EXPECT_FALSE(completed);
    EXPECT_FALSE(PathExists(server_->RootPath("raced.bin"))) << "a call that was not done wrote";
    EXPECT_TRUE(status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                status.error_code() == grpc::StatusCode::CANCELLED)
        << status.error_code() << ": " << status.error_message();
    RecordProperty("outcome", status.error_code() == grpc::StatusCode::UNAVAILABLE
                                  ? "refused" : "cancelled before start");
  }
  std::printf("Execute racing SIGTERM: status %d (%s), WRITE_COMPLETE %s\n",
              static_cast<int>(status.error_code()), status.error_message().c_str(),
              completed ? "yes" : "no");
}


// What a drain cuts short it reports: a job's copies still running when the
// drain time is nearly up are cancelled, their OP_CANCELLED events and the
// job's end reach a subscriber before its stream ends; a slow reader's read
// ends with OP_CANCELLED and BATCH_COMPLETE before its call is cut; and no
// partial copy destination or temp file stays on disk.
TEST_F(DrainTest, WorkCutShortIsReportedAndLeavesNoPartialFiles) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--drain-seconds", "2"}));
  const std::string src = RandomBytes(32u << 20, 91);
  WriteFileOrDie(server_->RootPath("src"), src);
  ASSERT_EQ(::mkdir(server_->RootPath("c").c_str(), 0755), 0);
  auto stub = server_->NewStub();
  constexpr int kCopies = 100;
  v1::Batch job_batch;
  for (int i = 0; i < kCopies; ++i) {
    v1::Op* op = job_batch.add_ops();
    op->set_tag(i);
    op->mutable_copy()->set_src("src");
    op->mutable_copy()->set_dst("c/" + std::to_string(i));
  }
  v1::Job job;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->Submit(&ctx, job_batch, &job).ok());
  }
  // The subscriber follows the job from its start.
  std::vector<v1::Event> seen;
  grpc::Status sub_status;
  grpc::ClientContext sub_ctx;
  sub_ctx.set_deadline(system_clock::now() + seconds(60));
  v1::SubscribeRequest req;
  req.set_from_seq(0);
  req.add_job_ids(job.id());
  auto sub = server_->NewStub();
  auto sub_reader = sub->Subscribe(&sub_ctx, req);
  std::thread follower([&] {
    v1::EventBatch msg;
    while (sub_reader->Read(&msg)) {
      for (const auto& e : msg.events()) seen.push_back(e);
    }
    sub_status = sub_reader->Finish();
  });
  // The slow reader: 64 reads of the 32 MiB file, one message per 20 ms.
  v1::Batch reads;
  for (int i = 0; i < 64; ++i) *reads.add_ops() = ReadOp(i, "src");
  grpc::ClientContext read_ctx;
  read_ctx.set_deadline(system_clock::now() + seconds(60));
  auto read_stub = server_->NewStub();
  auto reader = read_stub->Execute(&read_ctx, reads);
  std::vector<v1::Event> read_events;
  v1::EventBatch msg;
  ASSERT_TRUE(reader->Read(&msg)) << "the reads never started";
  for (const auto& e : msg.events()) read_events.push_back(e);
  server_->Signal(SIGTERM);
  while (reader->Read(&msg)) {
    for (auto& e : *msg.mutable_events()) {
      e.clear_data();
      read_events.push_back(std::move(e));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the slow reader's pace
  }
  grpc::Status read_status = reader->Finish();
  follower.join();
  absl::StatusOr<int> exit_status = server_->Stop();
  ASSERT_TRUE(exit_status.ok()) << exit_status.status();
  EXPECT_EQ(*exit_status, 0);

  // The reader: every read ended, cancelled ones said so, and the batch too.
  std::map<uint64_t, int> read_terminals;
  bool read_batch_done = false;
  int reads_cancelled = 0;
  for (const auto& e : read_events) {
    if (e.type() == v1::BATCH_COMPLETE) read_batch_done = true;
    if (e.type() == v1::READ_COMPLETE || e.type() == v1::OP_CANCELLED) ++read_terminals[e.tag()];
    reads_cancelled += e.type() == v1::OP_CANCELLED;
  }
  EXPECT_TRUE(read_batch_done) << "the slow reader's call was cut without BATCH_COMPLETE: "
                               << read_status.error_message();
  EXPECT_EQ(read_terminals.size(), 64u);
  EXPECT_GT(reads_cancelled, 0) << "nothing was cut short: the test tested nothing";
  // The subscriber: one terminal event per copy and the job's end.
  std::map<uint64_t, int> copy_terminals;
  int cancelled = 0;
  bool job_done = false;
  for (const auto& e : seen) {
    if (e.type() == v1::BATCH_COMPLETE) job_done = true;
    if (e.type() == v1::COPY_COMPLETE || e.type() == v1::OP_CANCELLED || e.type() == v1::OP_FAILED) {
      ++copy_terminals[e.tag()];
    }
    cancelled += e.type() == v1::OP_CANCELLED;
  }
  EXPECT_TRUE(job_done) << "the subscriber never saw the job end: " << sub_status.error_message();
  EXPECT_EQ(copy_terminals.size(), static_cast<size_t>(kCopies));
  for (const auto& [tag, n] : copy_terminals) EXPECT_EQ(n, 1) << "copy " << tag;
  EXPECT_GT(cancelled, 0) << "every copy finished before the drain: nothing was tested";
  // On disk: whole copies or none, and no temp files.
  for (const std::string& name : ListDir(server_->RootPath("c"))) {
    ASSERT_EQ(name.find(".overlapd-tmp-"), std::string::npos) << "left behind: " << name;
    EXPECT_EQ(ReadFileOrDie(server_->RootPath("c/" + name)) == src, true) << "partial copy " << name;
  }
}

}  // namespace
}  // namespace overlapd::itest
