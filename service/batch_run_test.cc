#include "service/batch_run.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace overlapd {
namespace {

// Records what the BatchRun submits; runs nothing.
class RecordingEngine final : public io::Engine {
 public:
  void Submit(io::Op* op) override { submitted.push_back(op); }
  void Cancel(io::Op* op) override { cancelled.push_back(op); }
  std::string_view name() const override { return "recording"; }
  int workers() const override { return 1; }
  const io::WorkerStats& worker_stats(int) const override { return stats_; }
  const io::EngineOptions& options() const override { return options_; }
  void Step(int, bool) override {}  // nothing runs: ops are only recorded

  std::vector<io::Op*> submitted;
  std::vector<io::Op*> cancelled;

 private:
  io::WorkerStats stats_;
  io::EngineOptions options_;
};

class NullSink final : public io::OpSink {
 public:
  void OnReadChunk(io::Op&, uint64_t, std::string, uint32_t) override {}
  void OnComplete(io::Op&) override {}
};

v1::Batch ChainedBatch() {
  // Ops 0 -> 1 -> 2 linked, 3 alone, 4 -> 5 linked.
  v1::Batch batch;
  batch.set_tag(77);
  for (int i = 0; i < 6; ++i) {
    v1::Op* op = batch.add_ops();
    op->set_tag(100 + i);
    op->mutable_stat()->set_path(absl::StrCat("f", i));
    op->set_link_next(i == 0 || i == 1 || i == 4);
  }
  return batch;
}

TEST(BatchRunTest, ChainsAreWiredAndOnlyTheirHeadsStart) {
  v1::Batch batch = ChainedBatch();
  Limits limits;
  NullSink sink;
  io::ReadCredit credit(1 << 20);
  BatchRun run(5, batch, limits, &sink, &credit, true, "team");
  RecordingEngine engine;
  run.Start(&engine);
  ASSERT_EQ(engine.submitted.size(), 3u);  // the heads: 0, 3, 4
  std::vector<uint64_t> head_tags;
  for (io::Op* op : engine.submitted) head_tags.push_back(RunOf(*op).tag);
  EXPECT_EQ(head_tags, (std::vector<uint64_t>{100, 103, 104}));
  io::Op* first = engine.submitted[0];
  ASSERT_NE(first->link_next, nullptr);
  EXPECT_EQ(RunOf(*first->link_next).tag, 101u);
  ASSERT_NE(first->link_next->link_next, nullptr);
  EXPECT_EQ(RunOf(*first->link_next->link_next).tag, 102u);
  EXPECT_EQ(first->link_next->link_next->link_next, nullptr);
  EXPECT_EQ(engine.submitted[1]->link_next, nullptr);
  EXPECT_EQ(RunOf(*engine.submitted[2]->link_next).tag, 105u);
  // Every op knows its batch, index, sink, credit and base.
  EXPECT_EQ(first->path, "f0");
  EXPECT_EQ(first->base, "team");
  EXPECT_EQ(first->sink, &sink);
  EXPECT_EQ(first->credit, &credit);
  EXPECT_EQ(RunOf(*first).batch, &run);
  EXPECT_EQ(run.size(), 6u);
  EXPECT_EQ(run.tag(), 77u);
  // The last of six completions is the one that says so.
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(run.OpFinished());
  EXPECT_TRUE(run.OpFinished());
}

TEST(BatchRunTest, CancelAsksForEveryOp) {
  v1::Batch batch = ChainedBatch();
  Limits limits;
  NullSink sink;
  io::ReadCredit credit(1 << 20);
  BatchRun run(5, batch, limits, &sink, &credit, true, "");
  RecordingEngine engine;
  run.Cancel(&engine);
  EXPECT_EQ(engine.cancelled.size(), 6u);
}

}  // namespace
}  // namespace overlapd
