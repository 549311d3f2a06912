// The state store and the journal on a real SQLite file in a temp dir.
#include "service/state_store.h"

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "gtest/gtest.h"
#include "service/event_log.h"
#include "service/journal.h"

namespace overlapd {
namespace {

class TempStateDir {
 public:
  TempStateDir() {
    char tmpl[] = "/tmp/overlapd-store-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempStateDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(StateStoreTest, KeepsEventsJobsAndMetaAcrossReopen) {
  TempStateDir dir;
  {
    auto store = StateStore::Open(dir.path());
    ASSERT_TRUE(store.ok()) << store.status();
    StateStore& s = **store;
    ASSERT_TRUE(s.Begin().ok());
    // Two rows: positions 0-1 and 2-4.
    std::string row;
    for (uint64_t pos = 0; pos < 5; ++pos) {
      if (pos == 2) {
        ASSERT_TRUE(s.PutEvents(0, 1, row).ok());
        row.clear();
      }
      StateStore::PackEvent(&row, 100 + pos, pos == 2, "pfx", "ev" + std::to_string(pos));
    }
    ASSERT_TRUE(s.PutEvents(2, 4, row).ok());
    ASSERT_TRUE(s.TrimEvents(2).ok());
    ASSERT_TRUE(s.PutJob(7, "pfx", "batch", "snap").ok());
    std::string ops;
    StateStore::PackOp(&ops, 3, "op3");
    StateStore::PackOp(&ops, 5, "op5");
    ASSERT_TRUE(s.PutJobOps(7, ops).ok());
    ASSERT_TRUE(s.PutJob(8, "", "batch8", "snap8").ok());
    ops.clear();
    StateStore::PackOp(&ops, 0, "op0");
    ASSERT_TRUE(s.PutJobOps(8, ops).ok());
    ASSERT_TRUE(s.UpdateJob(8, "final8", /*finished=*/true).ok());
    ASSERT_TRUE(s.SetMeta(kMetaSeqFloor, 12345).ok());
    ASSERT_TRUE(s.Commit().ok());
  }
  auto store = StateStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status();
  std::vector<StoredEvent> events;
  ASSERT_TRUE((*store)->LoadEvents(3, [&](StoredEvent&& e) { events.push_back(e); }).ok());
  ASSERT_EQ(events.size(), 2u) << "from position 3";
  events.clear();
  ASSERT_TRUE((*store)->LoadEvents(0, [&](StoredEvent&& e) { events.push_back(e); }).ok());
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].pos, 2u);
  EXPECT_EQ(events[0].seq, 102u);
  EXPECT_TRUE(events[0].session);
  EXPECT_EQ(events[2].event, "ev4");
  EXPECT_EQ(*(*store)->EventEnd(), 5u);
  EXPECT_EQ(*(*store)->Meta(kMetaSeqFloor), 12345u);
  EXPECT_EQ(*(*store)->Meta(kMetaJobIdFloor), 0u);
  auto jobs = (*store)->LoadJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 2u);
  EXPECT_FALSE((*jobs)[0].finished);
  EXPECT_EQ((*jobs)[0].ops.at(3), "op3");
  EXPECT_EQ((*jobs)[0].ops.at(5), "op5");
  EXPECT_TRUE((*jobs)[1].finished);
  EXPECT_EQ((*jobs)[1].snapshot, "final8");
  EXPECT_TRUE((*jobs)[1].ops.empty()) << "a finished job's ops are forgotten";
}

TEST(StateStoreTest, RefusesAFileThatIsNotAStore) {
  TempStateDir dir;
  {
    std::ofstream f(StateStore::PathIn(dir.path()));
    f << std::string(8192, 'x');
  }
  auto store = StateStore::Open(dir.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find(StateStore::PathIn(dir.path())), std::string::npos);
  EXPECT_NE(store.status().message().find(".recover"), std::string::npos);
  // Positive control: a fresh directory opens.
  TempStateDir fresh;
  EXPECT_TRUE(StateStore::Open(fresh.path()).ok());
}

// The journal publishes an event to the log only once it is committed, in
// position order, and a reopened store holds it.
TEST(JournalTest, EventsBecomeVisibleWhenCommitted) {
  TempStateDir dir;
  std::atomic<uint64_t> ids{1};
  {
    auto store = StateStore::Open(dir.path());
    ASSERT_TRUE(store.ok()) << store.status();
    EventLog log(100);
    Journal journal(**store, log, ids);
    ASSERT_TRUE(journal.Start().ok());
    log.AttachJournal(&journal);
    std::mutex mu;
    std::condition_variable cv;
    bool durable = false;
    for (int i = 0; i < 50; ++i) {
      v1::Event e;
      e.set_job_id(9);
      e.set_op_index(i);
      std::vector<JournalRecord> with(1);
      with[0].kind = JournalRecord::Kind::kJobOp;
      with[0].id = 9;
      with[0].index = static_cast<uint32_t>(i);
      log.Append(&e, false, nullptr, &with);
      EXPECT_EQ(e.seq(), static_cast<uint64_t>(i + 1));
    }
    journal.Push({}, [&] {
      std::lock_guard<std::mutex> lock(mu);
      durable = true;
      cv.notify_all();
    });
    {
      std::unique_lock<std::mutex> lock(mu);
      ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return durable; }));
    }
    // Everything pushed before the marker is published by now.
    EventLog::ReadResult r = log.Read(0, 100);
    ASSERT_EQ(r.entries.size(), 50u);
    for (size_t i = 0; i < r.entries.size(); ++i) {
      EXPECT_EQ(r.entries[i].event->seq(), i + 1);
    }
    journal.Stop();
  }
  auto store = StateStore::Open(dir.path());
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(*(*store)->EventEnd(), 50u);
  auto jobs = (*store)->LoadJobs();
  ASSERT_TRUE(jobs.ok());
  EXPECT_TRUE(jobs->empty()) << "op rows without their job row are not loaded";
  EXPECT_GE(*(*store)->Meta(kMetaSeqFloor), 51u + Journal::kLease / 2);
}

}  // namespace
}  // namespace overlapd
