// Back-pressure end to end: a 1 GiB read consumed slowly must not make the
// server buffer the file. The server reads from the page cache far faster
// than this client consumes; without flow control reaching the engine the
// server's memory would grow towards 1 GiB.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <thread>

#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include "tests/integration/server_test.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kFileBytes = 1024 * kMiB;
constexpr uint64_t kBlock = kMiB;
// The client drains at about this rate (the server can go several GB/s).
constexpr double kConsumeBytesPerSecond = 200.0 * kMiB;
constexpr uint64_t kMaxGrowth = 256 * kMiB;

// Block i of the file: a random 1 MiB block whose first 8 bytes are i, so
// every block differs and a chunk at a wrong offset is caught.
std::string Block(const std::string& base, uint64_t index) {
  std::string block = base;
  std::memcpy(block.data(), &index, sizeof(index));
  return block;
}

// Samples a process's VmRSS every 10 ms until destroyed; keeps the maximum.
class RssSampler {
 public:
  explicit RssSampler(pid_t pid) : thread_([this, pid] {
    while (!stop_.load()) {
      absl::StatusOr<ProcMemory> mem = ReadProcMemory(pid);
      if (mem.ok()) max_rss_.store(std::max(max_rss_.load(), mem->rss));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }) {}
  ~RssSampler() {
    stop_.store(true);
    thread_.join();
  }
  uint64_t max_rss() const { return max_rss_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> max_rss_{0};
  std::thread thread_;
};

class BackPressureTest : public ServerTest {};

TEST_F(BackPressureTest, SlowReaderOfOneGiBKeepsServerMemoryBounded) {
  ASSERT_NO_FATAL_FAILURE(StartServer());

  // The file, written directly into the root; its CRC32C in file order.
  const std::string base = RandomBytes(kBlock, 0x5EED);
  uint32_t file_crc = 0;
  {
    const int fd = ::open(server_->RootPath("big.bin").c_str(),
                          O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    for (uint64_t i = 0; i < kFileBytes / kBlock; ++i) {
      const std::string block = Block(base, i);
      ASSERT_EQ(::write(fd, block.data(), block.size()), static_cast<ssize_t>(block.size()));
      file_crc = SoftCrc32c(block, file_crc);
    }
    ASSERT_EQ(::close(fd), 0);
  }

  auto stub = server_->NewStub();
  {  // Warm up: the gRPC and engine threads exist before the baseline.
    WriteFileOrDie(server_->RootPath("small.bin"), RandomBytes(4096, 1));
    v1::Batch warm;
    *warm.add_ops() = ReadOp(1, "small.bin");
    CallResult r = RunExecute(*stub, warm);
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  absl::StatusOr<ProcMemory> before = server_->Memory();
  ASSERT_TRUE(before.ok()) << before.status();

  v1::Batch batch;
  batch.set_tag(9);
  *batch.add_ops() = ReadOp(42, "big.bin", 0, 0);  // length 0: to EOF
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(40));

  uint64_t received = 0;
  size_t messages = 0, chunks = 0, bad_crc = 0, bad_data = 0;
  std::map<uint64_t, uint64_t> spans;  // offset -> size
  const v1::Event* complete = nullptr;
  v1::Event complete_event;
  bool batch_complete = false;
  const Clock::time_point start = Clock::now();
  uint64_t max_rss = 0;
  grpc::Status status;
  {
    RssSampler sampler(server_->pid());
    auto reader = stub->Execute(&context, batch);
    v1::EventBatch message;
    // Bounded by the file size (each message brings data or ends the call)
    // and by the 40 s deadline.
    while (reader->Read(&message)) {
      ++messages;
      for (const v1::Event& e : message.events()) {
        if (e.type() == v1::READ_CHUNK) {
          ++chunks;
          received += e.data().size();
          spans[e.offset()] = e.data().size();
          if (SoftCrc32c(e.data()) != e.crc32c()) ++bad_crc;
          // Compare with the file, block by block.
          for (uint64_t pos = 0; pos < e.data().size();) {
            const uint64_t at = e.offset() + pos;
            const uint64_t in_block = at % kBlock;
            const uint64_t n = std::min<uint64_t>(kBlock - in_block, e.data().size() - pos);
            const std::string block = Block(base, at / kBlock);
            if (std::memcmp(e.data().data() + pos, block.data() + in_block, n) != 0) ++bad_data;
            pos += n;
          }
        } else if (e.type() == v1::READ_COMPLETE || e.type() == v1::OP_FAILED ||
                   e.type() == v1::OP_CANCELLED) {
          complete_event = e;
          complete = &complete_event;
        } else if (e.type() == v1::BATCH_COMPLETE) {
          batch_complete = true;
        }
      }
      // The slow consumer: at least 3 ms per message, and no faster than
      // kConsumeBytesPerSecond overall.
      const auto paced = start + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(received / kConsumeBytesPerSecond));
      std::this_thread::sleep_until(std::max(paced, Clock::now() + std::chrono::milliseconds(3)));
    }
    status = reader->Finish();
    max_rss = sampler.max_rss();
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  absl::StatusOr<ProcMemory> after = server_->Memory();
  ASSERT_TRUE(after.ok()) << after.status();

  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(received, kFileBytes);
  EXPECT_EQ(bad_crc, 0u) << "chunks whose crc32c does not match their data";
  EXPECT_EQ(bad_data, 0u) << "chunks whose data differs from the file";
  uint64_t covered = 0;
  for (const auto& [offset, size] : spans) {
    if (offset != covered) break;
    covered += size;
  }
  EXPECT_EQ(covered, kFileBytes) << "chunks do not tile the file";
  ASSERT_NE(complete, nullptr);
  EXPECT_EQ(complete->type(), v1::READ_COMPLETE) << Describe(*complete);
  EXPECT_EQ(complete->bytes(), kFileBytes);
  EXPECT_EQ(complete->crc32c(), file_crc);
  EXPECT_TRUE(batch_complete);

  // Peak growth over the baseline: VmHWM is the kernel's own high-water
  // mark (it misses nothing between samples); the sampled VmRSS is shown too.
  const uint64_t hwm_growth =
      after->peak_rss > before->rss ? after->peak_rss - before->rss : 0;
  const uint64_t sampled_growth = max_rss > before->rss ? max_rss - before->rss : 0;
  RecordProperty("baseline_rss_mib", std::to_string(before->rss / kMiB));
  RecordProperty("peak_rss_growth_mib", std::to_string(hwm_growth / kMiB));
  RecordProperty("sampled_rss_growth_mib", std::to_string(sampled_growth / kMiB));
  RecordProperty("seconds", std::to_string(seconds));
  std::printf(
      "1 GiB slow read: %.1f s, %zu messages, %zu chunks; server RSS baseline %lu MiB, "
      "peak growth %lu MiB (VmHWM), max sampled growth %lu MiB\n",
      seconds, messages, chunks, static_cast<unsigned long>(before->rss / kMiB),
      static_cast<unsigned long>(hwm_growth / kMiB),
      static_cast<unsigned long>(sampled_growth / kMiB));
  EXPECT_LT(hwm_growth, kMaxGrowth);
  EXPECT_LT(sampled_growth, kMaxGrowth);
}

}  // namespace
}  // namespace overlapd::itest
