// The health service tells its watchers about a drain: a client already
// watching grpc.health.v1.Health/Watch (what load balancers and gRPC's
// client-side health checking use) sees SERVING turn NOT_SERVING once
// SIGTERM starts the drain, for the whole server ("") and for
// overlapd.v1.IoService, while the drain still runs; a fresh `overlap
// health` then gets no SERVING; and the server exits 0.
//
// grpc/health/v1/health.proto has no C++ in the Debian packages: the calls
// go through grpc::GenericStub with the CLI's own wire-format encoder and
// decoder (commands_health.h).
#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/client_context.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/client_callback.h>
#include <gtest/gtest.h>

#include "clients/cpp/commands_health.h"
#include "tests/integration/server_test.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using std::chrono::system_clock;

// One Health/Watch call: sends HealthCheckRequest{service}, half-closes, and
// reads every status the server streams until the call ends. The test waits
// for them one at a time, bounded.
class HealthWatch : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  HealthWatch(grpc::GenericStub& stub, const std::string& service)
      : request_(ToByteBuffer(cli::EncodeHealthRequest(service))) {
    context_.set_deadline(system_clock::now() + seconds(120));
    stub.PrepareBidiStreamingCall(&context_, "/grpc.health.v1.Health/Watch",
                                  grpc::StubOptions(), this);
    StartWrite(&request_);
    StartRead(&response_);
    StartCall();
  }
  // The reactor must outlive the call: cancel it and wait (bounded) for its
  // end.
  ~HealthWatch() override {
    context_.TryCancel();
    EXPECT_TRUE(WaitDone(seconds(30))) << "a health watch never ended";
  }
  HealthWatch(const HealthWatch&) = delete;
  HealthWatch& operator=(const HealthWatch&) = delete;

  // The next status the server sent ("SERVING", "NOT_SERVING", ...), or ""
  // when none came within `timeout` or the call ended.
  std::string Next(milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return !statuses_.empty() || done_; });
    if (statuses_.empty()) return "";
    std::string next = std::move(statuses_.front());
    statuses_.pop_front();
    return next;
  }
  // Whether the call ended within `timeout`; its status then in `status`.
  bool WaitDone(milliseconds timeout, grpc::Status* status = nullptr) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return done_; })) return false;
    if (status != nullptr) *status = status_;
    return true;
  }

  void OnWriteDone(bool ok) override {
    if (ok) StartWritesDone();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;  // the call is ending: OnDone follows
    absl::StatusOr<std::string> name = cli::DecodeHealthStatus(FromByteBuffer(response_));
    {
      std::lock_guard<std::mutex> lock(mu_);
      statuses_.push_back(name.ok() ? *name : "undecodable: " + name.status().ToString());
    }
    cv_.notify_all();
    StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
      status_ = status;
    }
    cv_.notify_all();
  }

 private:
  grpc::ClientContext context_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> statuses_;  // under mu_
  bool done_ = false;                 // under mu_
  grpc::Status status_;               // under mu_
};

class HealthDrainTest : public ServerTest {};

TEST_F(HealthDrainTest, WatchersSeeNotServingWhenTheDrainStarts) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--drain-seconds", "10"}));
  WriteFileOrDie(server_->RootPath("hello.txt"), "hello\n");
  // One connection for everything: the Session and both watches.
  std::shared_ptr<grpc::Channel> channel = server_->NewChannel();

  // An open Session the drain has to deal with: one batch run to its end
  // proves the call is in the server, then it stays open and idle.
  auto io = v1::IoService::NewStub(channel);
  grpc::ClientContext session_ctx;
  session_ctx.set_deadline(system_clock::now() + seconds(120));
  auto session = io->Session(&session_ctx);
  v1::Batch batch;
  batch.set_tag(1);
  *batch.add_ops() = ReadOp(10, "hello.txt");
  ASSERT_TRUE(session->Write(batch));
  bool batch_done = false;
  v1::EventBatch message;
  for (int guard = 0; guard < 100 && !batch_done && session->Read(&message); ++guard) {
    for (const v1::Event& e : message.events()) batch_done |= e.type() == v1::BATCH_COMPLETE;
  }
  ASSERT_TRUE(batch_done) << "the Session's first batch never completed";

  // The Session keeps sending small batches (as an upload would) until the
  // checks below are done: that holds the drain open for them.
  std::atomic<bool> keep_busy{true};
  std::thread sender([&] {
    for (uint64_t tag = 2; keep_busy.load() && tag < 1000; ++tag) {
      v1::Batch stat;
      stat.set_tag(tag);
      stat.add_ops()->mutable_stat()->set_path("hello.txt");
      if (!session->Write(stat)) break;
      std::this_thread::sleep_for(milliseconds(50));
    }
  });

  grpc::GenericStub stub(channel);
  HealthWatch whole(stub, "");
  HealthWatch io_service(stub, "overlapd.v1.IoService");
  // Positive control: while serving, each watch starts with SERVING, and a
  // fresh `overlap health` says so too.
  ASSERT_EQ(whole.Next(seconds(10)), "SERVING");
  ASSERT_EQ(io_service.Next(seconds(10)), "SERVING");
  CommandResult before = server_->RunCli({"health", "--timeout", "5"}, seconds(30));
  ASSERT_EQ(before.exit_code, 0) << before.err;
  ASSERT_EQ(before.out, "SERVING\n");

  const auto sigterm_at = steady_clock::now();
  server_->Signal(SIGTERM);
  ASSERT_TRUE(server_->WaitForLog("draining", seconds(10))) << "no drain log line";
  EXPECT_EQ(whole.Next(seconds(10)), "NOT_SERVING") << "the \"\" watch was not told";
  EXPECT_EQ(io_service.Next(seconds(10)), "NOT_SERVING") << "the IoService watch was not told";
  const double told_ms =
      std::chrono::duration<double, std::milli>(steady_clock::now() - sigterm_at).count();

  // A fresh connection during the drain gets no SERVING: refused at the
  // door, or NOT_SERVING. The server still running afterwards shows the
  // check fell within the drain (the busy Session holds it).
  CommandResult during = server_->RunCli({"health", "--timeout", "3"}, seconds(30));
  EXPECT_NE(during.exit_code, 0) << during.out;
  EXPECT_NE(during.out, "SERVING\n");
  EXPECT_EQ(server_->Wait(milliseconds(0)).status().code(), absl::StatusCode::kDeadlineExceeded)
      << "the server had already exited: the check was not during the drain";

  // Once it falls idle, the Session is ended by the drain, not by us.
  keep_busy = false;
  sender.join();
  for (int guard = 0; guard < 100 && session->Read(&message); ++guard) {
  }
  grpc::Status session_status = session->Finish();
  EXPECT_TRUE(session_status.ok() || session_status.error_code() == grpc::StatusCode::UNAVAILABLE)
      << session_status.error_code() << ": " << session_status.error_message();

  // The watchers stay; the server ends their calls once the Session has
  // ended, and exits 0. Nothing it sent after NOT_SERVING says SERVING again.
  absl::StatusOr<int> exit_status = server_->Wait(seconds(40));
  ASSERT_TRUE(exit_status.ok()) << exit_status.status();
  EXPECT_EQ(*exit_status, 0);
  const double exit_ms =
      std::chrono::duration<double, std::milli>(steady_clock::now() - sigterm_at).count();
  for (HealthWatch* watch : {&whole, &io_service}) {
    grpc::Status end;
    EXPECT_TRUE(watch->WaitDone(seconds(10), &end)) << "a watch outlived the server";
    EXPECT_FALSE(end.ok()) << "a watch ended OK: the health service never ends one by itself";
    for (std::string s = watch->Next(milliseconds(0)); !s.empty(); s = watch->Next(milliseconds(0))) {
      EXPECT_NE(s, "SERVING") << "SERVING again after NOT_SERVING";
    }
  }
  std::printf("health watch: NOT_SERVING %.0f ms after SIGTERM; server exited %.0f ms after "
              "SIGTERM; overlap health during the drain: exit %d, %s%s\n",
              told_ms, exit_ms, during.exit_code, during.out.c_str(), during.err.c_str());
}

// Watches never end by themselves: once every other call is done, the
// drain ends them (CANCELLED) instead of waiting for its deadline with
// nothing left to do.
TEST_F(HealthDrainTest, OpenWatchesDoNotHoldTheDrainToItsDeadline) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--drain-seconds", "60"}));
  std::shared_ptr<grpc::Channel> channel = server_->NewChannel();
  grpc::GenericStub stub(channel);
  HealthWatch whole(stub, "");
  HealthWatch io_service(stub, "overlapd.v1.IoService");
  ASSERT_EQ(whole.Next(seconds(10)), "SERVING");
  ASSERT_EQ(io_service.Next(seconds(10)), "SERVING");

  server_->Signal(SIGTERM);
  // Well inside the 60 s drain: had the watches held it, this would time
  // out.
  absl::StatusOr<int> exit_status = server_->Wait(seconds(30));
  ASSERT_TRUE(exit_status.ok()) << "the open watches held the drain: " << exit_status.status();
  EXPECT_EQ(*exit_status, 0);
  for (HealthWatch* watch : {&whole, &io_service}) {
    grpc::Status end;
    ASSERT_TRUE(watch->WaitDone(seconds(10), &end)) << "a watch outlived the server";
    // gRPC's words for a server cancelling its calls: retry elsewhere.
    EXPECT_EQ(end.error_code(), grpc::StatusCode::UNAVAILABLE) << end.error_message();
  }
}

}  // namespace
}  // namespace overlapd::itest
