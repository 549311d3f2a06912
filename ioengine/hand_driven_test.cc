// The engine driven by hand (EngineOptions::hand_driven): no worker thread
// exists, so nothing happens between two Steps and a test checks the
// engine's state after each turn, with a ring of depth 1 among others.
#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "ioengine/crc32c.h"
#include "ioengine/engine.h"
#include "ioengine/engine_test_util.h"
#include "ioengine/scratch_dir.h"

namespace overlapd::io {
namespace {

constexpr int kMaxTurns = 100'000;  // bounds every loop below

class HandDrivenTest : public ::testing::TestWithParam<EngineKind> {
 protected:
  void SetUp() override {
    root_fd_ = open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY);
    ASSERT_GE(root_fd_, 0);
  }
  void TearDown() override {
    engine_.reset();
    close(root_fd_);
  }

  // One worker with a queue of `depth` IOs and 4 KiB chunks.
  void MakeEngine(uint32_t depth) {
    EngineOptions opts;
    opts.root_fd = root_fd_;
    opts.workers = 1;
    opts.queue_depth = depth;
    opts.chunk_bytes = 4096;
    opts.hand_driven = true;
    auto e = CreateEngine(GetParam(), opts);
    if (!e.ok() && GetParam() == EngineKind::kUring) {
      GTEST_SKIP() << "io_uring unavailable: " << e.status();
    }
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
  }

  std::unique_ptr<Op> ReadOp(std::string path) {
    auto op = std::make_unique<Op>();
    op->type = OpType::kRead;
    op->path = std::move(path);
    op->credit = &credit_;
    op->sink = &sink_;
    return op;
  }

  // Turns worker 0 until `done` ops completed, checking after every turn
  // that at most `depth` IOs are in the kernel. Returns the turns taken.
  int StepUntilCompleted(size_t done, uint32_t depth) {
    int turns = 0;
    while (!sink_.Wait(done, 0ms) && turns < kMaxTurns) {
      engine_->Step(0, /*wait=*/true);
      ++turns;
      EXPECT_LE(engine_->worker_stats(0).in_kernel.load(), static_cast<int64_t>(depth));
    }
    EXPECT_LT(turns, kMaxTurns) << "the op never completed";
    return turns;
  }

  ScratchDir dir_{"overlapd-hand-driven"};
  int root_fd_ = -1;
  ReadCredit credit_{64 << 20};
  Collector sink_;
  std::unique_ptr<Engine> engine_;
};

TEST_P(HandDrivenTest, NothingHappensBetweenSteps) {
  MakeEngine(8);
  const std::string data = RandomBytes(10'000, 1);
  WriteAll(dir_ / "f", data);
  auto op = ReadOp("f");
  engine_->Submit(op.get());
  // No thread runs the engine: the op waits in the inbox, untouched.
  EXPECT_EQ(engine_->worker_stats(0).pending.load(), 1);
  EXPECT_EQ(sink_.chunk_count(op.get()), 0u);
  EXPECT_FALSE(sink_.Wait(1, 0ms));
  // Positive control: turning the loop runs it.
  StepUntilCompleted(1, 8);
  EXPECT_EQ(op->result, 0);
  EXPECT_EQ(sink_.Assemble(op.get()), data);
  EXPECT_EQ(op->crc32c, Crc32c(data));
  EXPECT_EQ(engine_->worker_stats(0).pending.load(), 0);
}

// With one IO at a time, a read's chunks are issued, and so reported, in
// file order, one per turn at most.
TEST_P(HandDrivenTest, DepthOneReadsOneChunkAtATimeInOrder) {
  MakeEngine(1);
  const std::string data = RandomBytes(16 * 4096 + 100, 2);
  WriteAll(dir_ / "f", data);
  auto op = ReadOp("f");
  engine_->Submit(op.get());
  const int turns = StepUntilCompleted(1, 1);
  ASSERT_EQ(op->result, 0);
  const auto chunks = sink_.chunks(op.get());
  ASSERT_EQ(chunks.size(), 17u);
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].offset, i * 4096) << "chunk " << i;
    EXPECT_EQ(chunks[i].crc, Crc32c(data.substr(i * 4096, 4096))) << "chunk " << i;
  }
  EXPECT_GE(turns, 17);
  EXPECT_EQ(sink_.Assemble(op.get()), data);
}

// A cancel that arrives between two turns stops the chunks not yet issued:
// the op ends cancelled with exactly the bytes it reported.
TEST_P(HandDrivenTest, CancelBetweenTurnsStopsWhatIsNotIssued) {
  MakeEngine(1);
  WriteAll(dir_ / "f", RandomBytes(64 * 4096, 3));
  auto op = ReadOp("f");
  engine_->Submit(op.get());
  for (int i = 0; i < kMaxTurns && sink_.chunk_count(op.get()) == 0; ++i) {
    engine_->Step(0, /*wait=*/true);
  }
  ASSERT_EQ(sink_.chunk_count(op.get()), 1u);
  engine_->Cancel(op.get());
  StepUntilCompleted(1, 1);
  EXPECT_EQ(op->result, -ECANCELED);
  const size_t reported = sink_.chunk_count(op.get());
  EXPECT_LE(reported, 3u) << "chunks went on being issued after the cancel";
  EXPECT_EQ(op->bytes, reported * 4096);
  EXPECT_EQ(credit_.in_use(), 0u);
}

TEST_P(HandDrivenTest, DepthOneWriteLandsWhole) {
  MakeEngine(1);
  const std::string data = RandomBytes(10 * 4096 + 7, 4);
  auto op = std::make_unique<Op>();
  op->type = OpType::kWrite;
  op->path = "w";
  op->data = data;
  op->sink = &sink_;
  engine_->Submit(op.get());
  StepUntilCompleted(1, 1);
  EXPECT_EQ(op->result, 0);
  EXPECT_EQ(op->bytes, data.size());
  EXPECT_EQ(ReadAll(dir_ / "w"), data);
}

// Destroying an engine with an op half done turns the loop until it is
// done: the op completes, nothing is left behind.
TEST_P(HandDrivenTest, DestroyingTheEngineFinishesWhatRuns) {
  MakeEngine(1);
  WriteAll(dir_ / "f", RandomBytes(32 * 4096, 5));
  auto op = ReadOp("f");
  engine_->Submit(op.get());
  engine_->Step(0, /*wait=*/true);
  EXPECT_FALSE(sink_.Wait(1, 0ms));
  engine_.reset();
  ASSERT_TRUE(sink_.Wait(1, 0ms));
  EXPECT_EQ(op->result, 0);
  EXPECT_EQ(op->bytes, 32u * 4096);
}

INSTANTIATE_TEST_SUITE_P(Backends, HandDrivenTest,
                         ::testing::Values(EngineKind::kUring, EngineKind::kThreads),
                         [](const ::testing::TestParamInfo<EngineKind>& info) {
                           return info.param == EngineKind::kUring ? "uring" : "threads";
                         });

}  // namespace
}  // namespace overlapd::io
