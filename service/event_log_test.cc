#include "service/event_log.h"

#include "gtest/gtest.h"

namespace overlapd {
namespace {

v1::Event Ev(uint64_t job) {
  v1::Event e;
  e.set_job_id(job);
  e.set_type(v1::COPY_COMPLETE);
  e.set_data("bytes that the log must not keep");
  return e;
}

TEST(EventLogTest, AppendsInSeqOrderWithoutData) {
  EventLog log(8);
  v1::Event a = Ev(1), b = Ev(2);
  log.Append(&a, false);
  log.Append(&b, false);
  EXPECT_LT(a.seq(), b.seq());
  EXPECT_EQ(a.data(), "bytes that the log must not keep") << "the caller keeps its data";
  auto r = log.Read(0, 10);
  ASSERT_EQ(r.entries.size(), 2u);
  EXPECT_EQ(r.entries[0].event->seq(), a.seq());
  EXPECT_TRUE(r.entries[0].event->data().empty());
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.next_pos, 2u);
}

TEST(EventLogTest, OverwrittenEntriesAreCountedAsLost) {
  EventLog log(4);
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 10; ++i) {
    v1::Event e = Ev(i);
    log.Append(&e, false);
    seqs.push_back(e.seq());
  }
  auto r = log.Read(0, 100);
  EXPECT_EQ(r.lost, 6u);
  EXPECT_EQ(r.lost_last_seq, seqs[5]);
  ASSERT_EQ(r.entries.size(), 4u);
  EXPECT_EQ(r.entries[0].event->seq(), seqs[6]);
  EXPECT_EQ(log.oldest_seq(), seqs[6]);
}

TEST(EventLogTest, PositionOfResumesExactly) {
  EventLog log(100);
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 10; ++i) {
    v1::Event e = Ev(i);
    log.Append(&e, false);
    seqs.push_back(e.seq());
    log.NextSeq();  // an unlogged event in between
  }
  uint64_t pos = log.PositionOf(seqs[4]);
  auto r = log.Read(pos, 100);
  ASSERT_EQ(r.entries.size(), 6u);
  EXPECT_EQ(r.entries[0].event->seq(), seqs[4]);
  EXPECT_EQ(log.PositionOf(seqs[4] + 1), pos + 1);
  EXPECT_EQ(log.PositionOf(0), 0u);
}

TEST(EventLogTest, ResumeOlderThanTheLogReportsLoss) {
  EventLog log(3);
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 6; ++i) {
    v1::Event e = Ev(i);
    log.Append(&e, false);
    seqs.push_back(e.seq());
  }
  auto r = log.Read(log.PositionOf(seqs[1]), 100);
  EXPECT_EQ(r.lost, 2u);  // seqs[1], seqs[2]
  ASSERT_EQ(r.entries.size(), 3u);
  EXPECT_EQ(r.entries[0].event->seq(), seqs[3]);
  EXPECT_EQ(log.Read(log.PositionOf(0), 100).lost, 3u) << "everything evicted";
}

class CountingWaiter : public LogWaiter {
 public:
  explicit CountingWaiter(uint64_t job = 0) : job_(job) {}
  bool Wants(const LogEntry& e) const override {
    return job_ == 0 || e.event->job_id() == job_;
  }
  void Notify(uint64_t pos) override {
    ++notified;
    notified_pos = pos;
  }
  void Ref() override { ++refs; }
  void Unref() override { --refs; }
  int notified = 0;
  uint64_t notified_pos = 0;
  int refs = 0;

 private:
  const uint64_t job_;
};

TEST(EventLogTest, WaiterIsNotifiedOnceByTheNextAppend) {
  EventLog log(4);
  CountingWaiter w;
  EXPECT_TRUE(log.WaitFor(&w, 0));
  EXPECT_EQ(w.refs, 1);
  v1::Event e = Ev(1);
  log.Append(&e, false);
  EXPECT_EQ(w.notified, 1);
  EXPECT_EQ(w.refs, 0);
  EXPECT_FALSE(log.WaitFor(&w, 0)) << "an entry at 0 exists already";
  log.Append(&e, false);
  EXPECT_EQ(w.notified, 1);
}

// Idle subscribers are not woken by entries their filter rejects: the log
// checks the filter and tells the waiter where the first wanted entry is,
// even after the ones it skipped were overwritten.
TEST(EventLogTest, WaiterWakesOnlyForEntriesItWants) {
  EventLog log(4);
  CountingWaiter w(/*job=*/7);
  ASSERT_TRUE(log.WaitFor(&w, 0));
  for (int i = 0; i < 10; ++i) {
    v1::Event other = Ev(1);
    log.Append(&other, false);
  }
  EXPECT_EQ(w.notified, 0);
  EXPECT_EQ(w.refs, 1) << "still registered";
  v1::Event mine = Ev(7);
  log.Append(&mine, false);
  EXPECT_EQ(w.notified, 1);
  EXPECT_EQ(w.notified_pos, 10u);
  EXPECT_EQ(w.refs, 0);
  auto r = log.Read(w.notified_pos, 10);
  EXPECT_EQ(r.lost, 0u) << "skipped entries are not lost ones";
  ASSERT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(r.entries[0].event->seq(), mine.seq());
}

TEST(EventLogTest, CancelWaitReleasesTheWaiter) {
  EventLog log(4);
  CountingWaiter w(/*job=*/7);
  ASSERT_TRUE(log.WaitFor(&w, 0));
  EXPECT_EQ(w.refs, 1);
  log.CancelWait(&w);
  EXPECT_EQ(w.refs, 0);
  log.CancelWait(&w);  // not waiting: nothing to release
  EXPECT_EQ(w.refs, 0);
  v1::Event mine = Ev(7);
  log.Append(&mine, false);
  EXPECT_EQ(w.notified, 0);
}

}  // namespace
}  // namespace overlapd
