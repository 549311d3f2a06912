#include "service/job_recovery.h"

#include "gtest/gtest.h"

namespace overlapd {
namespace {

using S = ResumeStep;

v1::Op Write(v1::WriteMode mode, bool link = false) {
  v1::Op op;
  op.mutable_write()->set_path("f");
  op.mutable_write()->set_mode(mode);
  op.set_link_next(link);
  return op;
}

v1::Event Ended(v1::EventType type) {
  v1::Event e;
  e.set_type(type);
  return e;
}

TEST(JobRecoveryTest, SafeToRerunFollowsTheOpKindAndWriteMode) {
  v1::Op op;
  op.mutable_copy();
  EXPECT_TRUE(SafeToRerun(op));
  op.mutable_mkdir();
  EXPECT_TRUE(SafeToRerun(op));
  op.mutable_rename();
  EXPECT_FALSE(SafeToRerun(op));
  op.mutable_delete_();
  EXPECT_FALSE(SafeToRerun(op));
  EXPECT_TRUE(SafeToRerun(Write(v1::WRITE_MODE_AT)));
  EXPECT_TRUE(SafeToRerun(Write(v1::WRITE_MODE_TRUNCATE)));
  EXPECT_TRUE(SafeToRerun(Write(v1::WRITE_MODE_REPLACE_ATOMIC)));
  EXPECT_FALSE(SafeToRerun(Write(v1::WRITE_MODE_APPEND)));
  EXPECT_FALSE(SafeToRerun(Write(v1::WRITE_MODE_CREATE_NEW)));
}

TEST(JobRecoveryTest, JournaledOpsAreNotRunAgainOthersByKind) {
  v1::Batch b;
  *b.add_ops() = Write(v1::WRITE_MODE_APPEND);  // ended before the restart
  *b.add_ops() = Write(v1::WRITE_MODE_APPEND);  // unknown: aborted
  *b.add_ops() = Write(v1::WRITE_MODE_AT);      // unknown: runs again
  std::map<uint32_t, v1::Event> ended{{0, Ended(v1::WRITE_COMPLETE)}};
  EXPECT_EQ(PlanResume(b, ended), (std::vector<S>{S::kDone, S::kAbort, S::kRun}));
}

TEST(JobRecoveryTest, ChainResumesAtItsFirstUnfinishedOp) {
  v1::Batch b;
  *b.add_ops() = Write(v1::WRITE_MODE_AT, true);   // done
  *b.add_ops() = Write(v1::WRITE_MODE_AT, true);   // runs again
  *b.add_ops() = Write(v1::WRITE_MODE_TRUNCATE);   // runs after it (link)
  *b.add_ops() = Write(v1::WRITE_MODE_AT);         // a chain of its own
  std::map<uint32_t, v1::Event> ended{{0, Ended(v1::WRITE_COMPLETE)}};
  EXPECT_EQ(PlanResume(b, ended), (std::vector<S>{S::kDone, S::kRun, S::kRun, S::kRun}));
}

TEST(JobRecoveryTest, BrokenChainCancelsTheRest) {
  v1::Batch b;
  *b.add_ops() = Write(v1::WRITE_MODE_AT, true);      // failed before the restart
  *b.add_ops() = Write(v1::WRITE_MODE_AT, false);     // cancelled: its chain broke
  *b.add_ops() = Write(v1::WRITE_MODE_APPEND, true);  // unknown: aborted
  *b.add_ops() = Write(v1::WRITE_MODE_AT, false);     // cancelled after the abort
  *b.add_ops() = Write(v1::WRITE_MODE_AT, false);     // a new chain: runs
  std::map<uint32_t, v1::Event> ended{{0, Ended(v1::OP_FAILED)}};
  EXPECT_EQ(PlanResume(b, ended),
            (std::vector<S>{S::kDone, S::kCancel, S::kAbort, S::kCancel, S::kRun}));
}

TEST(JobRecoveryTest, OutcomeEventsSayWhy) {
  v1::Event aborted, cancelled;
  FillResumeOutcome(S::kAbort, &aborted);
  FillResumeOutcome(S::kCancel, &cancelled);
  EXPECT_EQ(aborted.type(), v1::OP_FAILED);
  EXPECT_EQ(aborted.error().code(), 10);  // ABORTED
  EXPECT_NE(aborted.error().message().find("outcome unknown after a restart"), std::string::npos);
  EXPECT_EQ(cancelled.type(), v1::OP_CANCELLED);
  EXPECT_EQ(cancelled.error().code(), 1);  // CANCELLED
}

}  // namespace
}  // namespace overlapd
