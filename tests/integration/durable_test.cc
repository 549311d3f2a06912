// The durable event log on a real server restarted on the same --root:
// EVENTS_LOST counts stay exact across a restart, and a subscription whose
// filter never matches still gets PROGRESS bookmarks.
#include <chrono>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/server_harness.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

// Submits a job of `n` Stat ops of `path` and waits (bounded) for its end.
void RunStatJob(v1::IoService::Stub& stub, const std::string& path, int n) {
  v1::Batch b;
  for (int i = 0; i < n; ++i) b.add_ops()->mutable_stat()->set_path(path);
  grpc::ClientContext ctx;
  v1::Job job;
  ASSERT_TRUE(stub.Submit(&ctx, b, &job).ok());
  for (int i = 0; i < 600; ++i) {
    grpc::ClientContext c;
    v1::GetJobRequest req;
    req.set_id(job.id());
    ASSERT_TRUE(stub.GetJob(&c, req, &job).ok());
    if (job.state() != v1::RUNNING) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling the job
  }
  FAIL() << "job still running";
}

// The first message of a subscription from `from_seq`.
v1::EventBatch FirstMessage(v1::IoService::Stub& stub, uint64_t from_seq) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::SubscribeRequest req;
  req.set_from_seq(from_seq);
  auto reader = stub.Subscribe(&ctx, req);
  v1::EventBatch msg;
  EXPECT_TRUE(reader->Read(&msg));
  ctx.TryCancel();
  return msg;
}

TEST(DurableLogTest, EventsLostCountIsExactAcrossARestart) {
  TempDir dir("overlapd-durable-");
  const std::string root = dir.Join("root");
  uint64_t last_seq = 0;
  {
    auto server = ServerProcess::Start({"--event-log-events", "100"}, root);
    ASSERT_TRUE(server.ok()) << server.status();
    WriteFileOrDie((*server)->RootPath("f"), "x");
    auto stub = (*server)->NewStub();
    RunStatJob(*stub, "f", 299);  // 300 events: 200 leave the log
    v1::EventBatch msg = FirstMessage(*stub, 1);
    ASSERT_GT(msg.events_size(), 0);
    EXPECT_EQ(msg.events(0).type(), v1::EVENTS_LOST);
    EXPECT_EQ(msg.events(0).count(), 200u) << "before the restart (the control)";
    last_seq = msg.events(msg.events_size() - 1).seq();
    ASSERT_TRUE((*server)->Stop().ok());
  }
  auto server = ServerProcess::Start({"--event-log-events", "100"}, root);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = (*server)->NewStub();
  v1::EventBatch msg = FirstMessage(*stub, 1);
  ASSERT_EQ(msg.events_size(), 101);
  EXPECT_EQ(msg.events(0).type(), v1::EVENTS_LOST);
  EXPECT_EQ(msg.events(0).count(), 200u);
  EXPECT_EQ(msg.events(0).first_seq(), 1u);
  EXPECT_EQ(msg.events(0).last_seq(), 200u);
  EXPECT_EQ(msg.events(1).seq(), 201u);
  EXPECT_EQ(msg.events(100).seq(), last_seq);
  // New events continue above every seq handed out before.
  RunStatJob(*stub, "f", 1);
  v1::EventBatch after = FirstMessage(*stub, last_seq + 1);
  ASSERT_GT(after.events_size(), 0);
  EXPECT_GT(after.events(0).seq(), last_seq);
  EXPECT_NE(after.events(0).type(), v1::EVENTS_LOST);
}

TEST(DurableLogTest, QuietSubscriptionGetsProgressBookmarks) {
  auto server = ServerProcess::Start({"--progress-seconds", "1"});
  ASSERT_TRUE(server.ok()) << server.status();
  WriteFileOrDie((*server)->RootPath("f"), "x");
  auto stub = (*server)->NewStub();
  // A filter that matches nothing this test does.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::SubscribeRequest req;
  req.add_job_ids(987654321);
  auto reader = stub->Subscribe(&ctx, req);
  RunStatJob(*stub, "f", 10);  // 11 events, none for this subscriber
  // The job's last event, as an unfiltered subscription from the start
  // sees it (the positive control: the log did move).
  v1::EventBatch all = FirstMessage(*stub, 0);
  ASSERT_EQ(all.events_size(), 11);
  ASSERT_EQ(all.events(10).type(), v1::BATCH_COMPLETE);
  const uint64_t last = all.events(10).seq();
  // Bookmarks come (one may come before the job ended) until one says
  // the log has passed the job's last event.
  uint64_t bookmark = 0;
  v1::EventBatch msg;
  for (int i = 0; i < 30 && bookmark < last && reader->Read(&msg); ++i) {
    ASSERT_EQ(msg.events_size(), 1);
    ASSERT_EQ(msg.events(0).type(), v1::PROGRESS);
    EXPECT_GT(msg.events(0).seq(), bookmark) << "a bookmark only when the log moved";
    bookmark = msg.events(0).seq();
  }
  EXPECT_EQ(bookmark, last);
  ctx.TryCancel();
}

}  // namespace
}  // namespace overlapd::itest
