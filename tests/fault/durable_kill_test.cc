// Durable jobs and event log: a real overlapd killed (SIGKILL) at random
// points while jobs run, restarted on the same --root (so the same
// --state-dir, ROOT.state). After the restart every job ends, every op has
// exactly one terminal event in the log, successful copies are whole, a
// subscriber resumes with no gap and no duplicate, appends never happen
// twice, and a drained server resumes nothing.
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/integration/server_harness.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

bool IsTerminal(const v1::Event& e) {
  return e.type() != v1::READ_CHUNK && e.type() != v1::BATCH_COMPLETE &&
         e.type() != v1::EVENTS_LOST && e.type() != v1::PROGRESS &&
         e.type() != v1::EVENT_TYPE_UNSPECIFIED;
}

// Follows the event log from `from_seq` into `events` (PROGRESS left out)
// until `jobs` BATCH_COMPLETEs have been seen in all, the stream ends, or
// `timeout` passes. `terminal` counts the op events seen (for kill points).
struct Follower {
  std::vector<v1::Event> events;
  std::atomic<uint64_t> terminal{0};
  std::set<uint64_t> completed_jobs;
  grpc::Status status;

  void Run(v1::IoService::Stub& stub, uint64_t from_seq, size_t jobs,
           std::chrono::seconds timeout = std::chrono::seconds(180)) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + timeout);
    v1::SubscribeRequest req;
    req.set_from_seq(from_seq);
    auto reader = stub.Subscribe(&ctx, req);
    v1::EventBatch msg;
    while (completed_jobs.size() < jobs && reader->Read(&msg)) {
      for (const v1::Event& e : msg.events()) {
        if (e.type() == v1::PROGRESS) continue;
        events.push_back(e);
        if (IsTerminal(e)) terminal.fetch_add(1);
        if (e.type() == v1::BATCH_COMPLETE) completed_jobs.insert(e.job_id());
      }
    }
    ctx.TryCancel();
    status = reader->Finish();
  }
  uint64_t last_seq() const { return events.empty() ? 0 : events.back().seq(); }
};

uint64_t Submit(v1::IoService::Stub& stub, const v1::Batch& batch) {
  grpc::ClientContext ctx;
  v1::Job job;
  grpc::Status s = stub.Submit(&ctx, batch, &job);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return job.id();
}

v1::Job WaitForJob(v1::IoService::Stub& stub, uint64_t id) {
  v1::Job job;
  const auto end = Clock::now() + std::chrono::seconds(180);
  while (Clock::now() < end) {
    grpc::ClientContext ctx;
    v1::GetJobRequest req;
    req.set_id(id);
    grpc::Status s = stub.GetJob(&ctx, req, &job);
    if (!s.ok()) {
      ADD_FAILURE() << "GetJob " << id << ": " << s.error_message();
      return job;
    }
    if (job.state() != v1::QUEUED && job.state() != v1::RUNNING) return job;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling the job's end
  }
  ADD_FAILURE() << "job " << id << " still running after the timeout";
  return job;
}

// Waits (bounded) until `follower` has seen `n` op events.
void WaitForTerminal(const Follower& follower, uint64_t n) {
  const auto end = Clock::now() + std::chrono::seconds(60);
  while (follower.terminal.load() < n && Clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // polling the count
  }
}

// Every op of `ops` jobs: exactly one terminal event in `log`; returns the
// terminal events by (job, op index).
std::map<std::pair<uint64_t, uint32_t>, v1::Event> OneTerminalEach(
    const std::vector<v1::Event>& log) {
  std::map<std::pair<uint64_t, uint32_t>, v1::Event> terminal;
  for (const v1::Event& e : log) {
    if (!IsTerminal(e)) continue;
    auto [it, inserted] = terminal.emplace(std::make_pair(e.job_id(), e.op_index()), e);
    EXPECT_TRUE(inserted) << "two terminal events for job " << e.job_id() << " op "
                          << e.op_index() << ": " << Describe(it->second) << " and "
                          << Describe(e);
  }
  return terminal;
}

constexpr int kJobs = 20, kCopies = 500, kSources = 50;

TEST(DurableKillTest, CopyJobsResumeAndSubscriberResumesAcrossSigkill) {
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 3; ++round) {
    TempDir dir("overlapd-durable-");
    const std::string root = dir.Join("root");
    fs::create_directories(root + "/src");
    std::vector<std::string> sources;
    for (int s = 0; s < kSources; ++s) {
      sources.push_back(RandomBytes(4096 + 997 * s, 7000 + s));
      WriteFileOrDie(absl::StrCat(root, "/src/", s), sources.back());
    }
    for (int j = 0; j < kJobs; ++j) fs::create_directories(absl::StrCat(root, "/out/", j));
    auto server = ServerProcess::Start({}, root);
    ASSERT_TRUE(server.ok()) << server.status();
    auto stub = (*server)->NewStub();
    Follower follower;
    std::thread follow([&] { follower.Run(*stub, 0, kJobs); });
    std::vector<uint64_t> ids;
    for (int j = 0; j < kJobs; ++j) {
      v1::Batch b;
      for (int k = 0; k < kCopies; ++k) {
        v1::Copy* c = b.add_ops()->mutable_copy();
        c->set_src(absl::StrCat("src/", (j + k) % kSources));
        c->set_dst(absl::StrCat("out/", j, "/", k));
        b.mutable_ops(k)->set_tag(k);
        // Chains of 10 (a resumed chain starts at its first unfinished
        // copy); 1,000 copies in flight at once stay within the engine's
        // open files, which 10,000 would not.
        b.mutable_ops(k)->set_link_next(k % 10 != 9);
      }
      ids.push_back(Submit(*stub, b));
    }
    // A random point: after some share of the 10,000 copies were reported.
    const uint64_t kill_at = std::uniform_int_distribution<uint64_t>(200, 6000)(rng);
    WaitForTerminal(follower, kill_at);
    (*server)->Signal(SIGKILL);
    follow.join();
    const uint64_t before = follower.events.size();
    std::cout << "round " << round << ": killed after " << follower.terminal.load()
              << " op events (aimed at " << kill_at << "), last seq " << follower.last_seq()
              << "\n";
    EXPECT_LT(follower.completed_jobs.size(), static_cast<size_t>(kJobs))
        << "every job ended before the kill: nothing tested";
    server->reset();

    auto again = ServerProcess::Start({}, root);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_TRUE((*again)->WaitForLog("recovered jobs", std::chrono::seconds(5)));
    auto stub2 = (*again)->NewStub();
    // The subscriber resumes where it was.
    follower.Run(*stub2, follower.last_seq() + 1, kJobs);
    EXPECT_EQ(follower.completed_jobs.size(), static_cast<size_t>(kJobs)) << follower.status.error_message();
    for (uint64_t id : ids) {
      v1::Job job = WaitForJob(*stub2, id);
      EXPECT_EQ(job.state(), v1::SUCCEEDED) << "job " << id;
      EXPECT_EQ(job.ops_done(), static_cast<uint32_t>(kCopies)) << "job " << id;
    }
    // The whole log, read afresh: the subscriber saw exactly it.
    Follower full;
    full.Run(*stub2, 0, kJobs);
    EXPECT_EQ(SeqViolation(follower.events), "");
    ASSERT_EQ(full.events.size(), follower.events.size())
        << "the resumed subscriber saw " << follower.events.size() << " events (" << before
        << " before the kill), the log holds " << full.events.size();
    for (size_t i = 0; i < full.events.size(); ++i) {
      ASSERT_EQ(full.events[i].seq(), follower.events[i].seq()) << "event " << i;
      ASSERT_EQ(full.events[i].SerializeAsString(), follower.events[i].SerializeAsString());
    }
    auto terminal = OneTerminalEach(full.events);
    EXPECT_EQ(terminal.size(), static_cast<size_t>(kJobs * kCopies));
    int checked = 0, shown = 0;
    for (const auto& [key, e] : terminal) {
      if (e.type() != v1::COPY_COMPLETE) {
        if (shown++ < 3) ADD_FAILURE() << "a copy did not succeed: " << Describe(e);
        continue;
      }
      const int j = static_cast<int>(std::find(ids.begin(), ids.end(), key.first) - ids.begin());
      const std::string dst = absl::StrCat(root, "/out/", j, "/", key.second);
      // The sources are small: read once, compared in memory.
      ASSERT_TRUE(ReadFileOrDie(dst) == sources[(j + key.second) % kSources]) << dst;
      ++checked;
    }
    EXPECT_EQ(checked, kJobs * kCopies);
  }
}

TEST(DurableKillTest, InterruptedAppendsAreAbortedNeverRunTwice) {
  std::mt19937 rng(std::random_device{}());
  int aborted_total = 0;
  for (int round = 0; round < 3; ++round) {
    TempDir dir("overlapd-durable-");
    const std::string root = dir.Join("root");
    fs::create_directories(root);
    WriteFileOrDie(root + "/log.txt", "");
    constexpr int kAppends = 1500;
    auto server = ServerProcess::Start({}, root);
    ASSERT_TRUE(server.ok()) << server.status();
    auto stub = (*server)->NewStub();
    Follower follower;
    std::thread follow([&] { follower.Run(*stub, 0, 1); });
    v1::Batch b;
    for (int i = 0; i < kAppends; ++i) {
      // DATA durability: each append waits on the disk, so the job is
      // still running when the kill comes.
      *b.add_ops() = WriteOp(i, "log.txt", absl::StrFormat("record %05d\n", i),
                             v1::WRITE_MODE_APPEND, v1::DURABILITY_DATA);
    }
    const uint64_t id = Submit(*stub, b);
    const uint64_t kill_at = std::uniform_int_distribution<uint64_t>(20, 800)(rng);
    WaitForTerminal(follower, kill_at);
    (*server)->Signal(SIGKILL);
    follow.join();
    server->reset();

    auto again = ServerProcess::Start({}, root);
    ASSERT_TRUE(again.ok()) << again.status();
    auto stub2 = (*again)->NewStub();
    v1::Job job = WaitForJob(*stub2, id);
    Follower full;
    full.Run(*stub2, 0, 1);
    auto terminal = OneTerminalEach(full.events);
    ASSERT_EQ(terminal.size(), static_cast<size_t>(kAppends));
    // Each record at most once; every reported append exactly once.
    std::map<std::string, int> count;
    std::string text = ReadFileOrDie(root + "/log.txt");
    for (size_t p = 0; p < text.size(); p += 13) count[text.substr(p, 13)]++;
    int aborted = 0, done = 0;
    for (const auto& [key, e] : terminal) {
      const std::string rec = absl::StrFormat("record %05d\n", key.second);
      EXPECT_LE(count[rec], 1) << "appended twice: " << rec;
      if (e.type() == v1::WRITE_COMPLETE) {
        EXPECT_EQ(count[rec], 1) << "reported written, not in the file: " << rec;
        ++done;
      } else {
        ASSERT_EQ(e.type(), v1::OP_FAILED) << Describe(e);
        EXPECT_EQ(e.error().code(), static_cast<int>(grpc::StatusCode::ABORTED)) << Describe(e);
        EXPECT_NE(e.error().message().find("outcome unknown after a restart"), std::string::npos);
        ++aborted;
      }
    }
    EXPECT_EQ(text.size() % 13, 0u);
    EXPECT_EQ(job.state(), aborted > 0 ? v1::FAILED : v1::SUCCEEDED);
    EXPECT_EQ(job.ops_failed(), static_cast<uint32_t>(aborted));
    std::cout << "round " << round << ": killed after " << kill_at << " appends reported; " << done
              << " done, " << aborted << " aborted after the restart\n";
    aborted_total += aborted;
  }
  EXPECT_GT(aborted_total, 0) << "no append was interrupted: nothing tested";
}

TEST(DurableKillTest, DrainThenRestartResumesNothing) {
  TempDir dir("overlapd-durable-");
  const std::string root = dir.Join("root");
  fs::create_directories(root + "/out");
  WriteRandomFile(root + "/src", 64 << 10, 5);
  std::map<uint64_t, v1::Job> before;
  {
    auto server = ServerProcess::Start({"--drain-seconds", "2"}, root);
    ASSERT_TRUE(server.ok()) << server.status();
    auto stub = (*server)->NewStub();
    for (int j = 0; j < 5; ++j) {
      v1::Batch b;
      for (int k = 0; k < 300; ++k) {
        v1::Copy* c = b.add_ops()->mutable_copy();
        c->set_src("src");
        c->set_dst(absl::StrCat("out/", j, "-", k));
        c->set_durability(v1::DURABILITY_DATA);
      }
      Submit(*stub, b);
    }
    auto stopped = (*server)->Stop();
    ASSERT_TRUE(stopped.ok()) << stopped.status();
    EXPECT_EQ(*stopped, 0) << (*server)->Log();
    // Restart once to read what the drain left (finished or cancelled).
    auto again = ServerProcess::Start({}, root);
    ASSERT_TRUE(again.ok()) << again.status();
    auto stub2 = (*again)->NewStub();
    grpc::ClientContext ctx;
    v1::ListJobsResponse list;
    ASSERT_TRUE(stub2->ListJobs(&ctx, v1::ListJobsRequest(), &list).ok());
    ASSERT_EQ(list.jobs_size(), 5);
    for (const v1::Job& j : list.jobs()) before[j.id()] = j;
    EXPECT_TRUE((*again)->WaitForLog("0 resumed", std::chrono::seconds(5))) << (*again)->Log();
    ASSERT_TRUE((*again)->Stop().ok());
  }
  auto server = ServerProcess::Start({}, root);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE((*server)->WaitForLog("5 finished, 0 resumed", std::chrono::seconds(5)))
      << (*server)->Log();
  auto stub = (*server)->NewStub();
  for (const auto& [id, job] : before) {
    EXPECT_NE(job.state(), v1::RUNNING);
    grpc::ClientContext ctx;
    v1::GetJobRequest req;
    req.set_id(id);
    v1::Job now;
    ASSERT_TRUE(stub->GetJob(&ctx, req, &now).ok());
    EXPECT_EQ(now.SerializeAsString(), job.SerializeAsString()) << "job " << id << " changed";
  }
  auto metrics = HttpGet((*server)->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->body.find("overlapd_jobs_recovered_total{outcome=\"resumed\"} 0"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("overlapd_jobs_recovered_total{outcome=\"finished\"} 5"),
            std::string::npos);
}

}  // namespace
}  // namespace overlapd::itest
