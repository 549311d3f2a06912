// 100 files written in one Execute batch, then read back in one batch, on
// each engine: bytes, tags, CRCs, sequence numbers and BATCH_COMPLETE.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_format.h"
#include "tests/integration/engine_param.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

constexpr int kFiles = 100;
constexpr size_t kMaxFile = 2u << 20;

// Sizes from 1 B to 2 MiB: the edges and the chunk boundary (1 MiB by
// default) on purpose, the rest log-uniform so small and large both occur.
std::vector<size_t> FileSizes() {
  std::vector<size_t> sizes = {1, kMaxFile, 1u << 20, (1u << 20) + 1, (1u << 20) - 1, 4096};
  std::mt19937_64 rng(20240611);
  std::uniform_real_distribution<double> exponent(0.0, std::log(static_cast<double>(kMaxFile)));
  while (sizes.size() < kFiles) {
    sizes.push_back(std::clamp<size_t>(static_cast<size_t>(std::exp(exponent(rng))), 1, kMaxFile));
  }
  return sizes;
}

// Exactly one BATCH_COMPLETE, last, with the batch tag and no error; seq
// strictly increasing in arrival order.
void ExpectBatchShape(const std::vector<v1::Event>& events, uint64_t batch_tag) {
  ASSERT_FALSE(events.empty());
  int completes = 0;
  for (const v1::Event& e : events) completes += e.type() == v1::BATCH_COMPLETE;
  EXPECT_EQ(completes, 1);
  const v1::Event& last = events.back();
  EXPECT_EQ(last.type(), v1::BATCH_COMPLETE) << Describe(last);
  EXPECT_EQ(last.tag(), batch_tag);
  EXPECT_EQ(last.error().code(), 0) << last.error().message();
  EXPECT_EQ(SeqViolation(events), "") << "see event_order_test.cc";
}

class RoundTripTest : public EngineTest {};

TEST_P(RoundTripTest, HundredFilesWrittenAndReadBackInOneBatchEach) {
  ASSERT_NO_FATAL_FAILURE(StartOnEngine());
  if (IsSkipped()) return;
  auto stub = server_->NewStub();

  const std::vector<size_t> sizes = FileSizes();
  std::vector<std::string> names(kFiles), contents(kFiles);
  v1::Batch writes;
  writes.set_tag(7001);
  uint64_t total = 0;
  for (int i = 0; i < kFiles; ++i) {
    names[i] = absl::StrFormat("file-%03d.bin", i);
    contents[i] = RandomBytes(sizes[i], 1000 + i);
    total += sizes[i];
    *writes.add_ops() = WriteOp(1000 + i, names[i], contents[i], v1::WRITE_MODE_CREATE_NEW);
  }
  RecordProperty("total_bytes", std::to_string(total));

  CallResult w = RunExecute(*stub, writes);
  ASSERT_TRUE(w.status.ok()) << w.status.error_code() << ": " << w.status.error_message();
  ASSERT_NO_FATAL_FAILURE(ExpectBatchShape(w.events, 7001));
  std::map<uint64_t, OpOutcome> written = GroupByTag(w.events);
  EXPECT_EQ(written.size(), static_cast<size_t>(kFiles)) << "events for unknown tags";
  for (int i = 0; i < kFiles; ++i) {
    SCOPED_TRACE(names[i]);
    const OpOutcome& op = written[1000 + i];
    ASSERT_EQ(op.events.size(), 1u);
    const v1::Event& e = op.events[0];
    EXPECT_EQ(e.type(), v1::WRITE_COMPLETE) << Describe(e);
    EXPECT_EQ(e.op_index(), static_cast<uint32_t>(i));
    EXPECT_EQ(e.path(), names[i]);
    EXPECT_EQ(e.bytes(), sizes[i]);
    EXPECT_EQ(e.crc32c(), SoftCrc32c(contents[i]));
    // On disk, not only in the event.
    EXPECT_TRUE(ReadFileOrDie(server_->RootPath(names[i])) == contents[i]);
  }

  v1::Batch reads;
  reads.set_tag(7002);
  for (int i = 0; i < kFiles; ++i) *reads.add_ops() = ReadOp(5000 + i, names[i]);
  CallResult r = RunExecute(*stub, reads);
  ASSERT_TRUE(r.status.ok()) << r.status.error_code() << ": " << r.status.error_message();
  ASSERT_NO_FATAL_FAILURE(ExpectBatchShape(r.events, 7002));
  std::map<uint64_t, OpOutcome> read = GroupByTag(r.events);
  EXPECT_EQ(read.size(), static_cast<size_t>(kFiles)) << "events for unknown tags";
  size_t chunks = 0;
  for (int i = 0; i < kFiles; ++i) {
    SCOPED_TRACE(names[i]);
    const OpOutcome& op = read[5000 + i];
    EXPECT_TRUE(op.problems.empty()) << ::testing::PrintToString(op.problems);
    ASSERT_EQ(op.terminal_events, 1);
    EXPECT_EQ(op.terminal()->type(), v1::READ_COMPLETE) << Describe(*op.terminal());
    EXPECT_EQ(op.terminal()->bytes(), sizes[i]);
    EXPECT_EQ(op.terminal()->crc32c(), SoftCrc32c(contents[i]));
    EXPECT_TRUE(op.data == contents[i]) << "read-back differs, " << op.data.size()
                                        << " bytes vs " << sizes[i];
    for (const v1::Event& e : op.events) {
      EXPECT_EQ(e.op_index(), static_cast<uint32_t>(i)) << Describe(e);
      EXPECT_EQ(e.path(), names[i]) << Describe(e);
      if (e.type() == v1::READ_CHUNK) {
        ++chunks;
        EXPECT_LE(e.bytes(), caps_.chunk_bytes()) << Describe(e);
      }
    }
  }
  // Files over one chunk must come in several.
  EXPECT_GT(chunks, static_cast<size_t>(kFiles));
  RecordProperty("read_chunks", std::to_string(chunks));
  RecordProperty("read_messages", std::to_string(r.messages));
}

INSTANTIATE_TEST_SUITE_P(Engines, RoundTripTest, ::testing::Values("uring", "threads"),
                         EngineName);

}  // namespace
}  // namespace overlapd::itest
