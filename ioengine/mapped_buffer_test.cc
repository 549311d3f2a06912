// MappedBuffer's checks, and the engine reading into and writing from a
// mapped buffer: on every worker, with no credit charged and nothing
// outside the range touched.
#include "ioengine/mapped_buffer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "ioengine/crc32c.h"
#include "ioengine/engine.h"

namespace overlapd::io {
namespace {

int SealedMemfd(uint64_t size, bool seal = true) {
  int fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(ftruncate(fd, static_cast<off_t>(size)), 0);
  if (seal) EXPECT_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
  return fd;
}

TEST(MappedBufferTest, MapsASealedMemfdAndRefusesEverythingElse) {
  int good = SealedMemfd(8192);
  auto mapped = MappedBuffer::Map(good, 8192);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_EQ((*mapped)->size(), 8192u);
  (*mapped)->data()[0] = 'x';  // writable, shared
  char c = 0;
  ASSERT_EQ(pread(good, &c, 1, 0), 1);
  EXPECT_EQ(c, 'x');

  int unsealed = SealedMemfd(8192, false);
  EXPECT_EQ(MappedBuffer::Map(unsealed, 1 << 20).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(MappedBuffer::Map(good, 4096).status().code(), absl::StatusCode::kResourceExhausted);
  int empty = SealedMemfd(0);
  EXPECT_EQ(MappedBuffer::Map(empty, 1 << 20).status().code(), absl::StatusCode::kInvalidArgument);
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  EXPECT_EQ(MappedBuffer::Map(pair[0], 1 << 20).status().code(),
            absl::StatusCode::kInvalidArgument);
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  EXPECT_EQ(MappedBuffer::Map(devnull, 1 << 20).status().code(),
            absl::StatusCode::kInvalidArgument);
  for (int fd : {good, unsealed, empty, pair[0], pair[1], devnull}) close(fd);
}

class Sink : public OpSink {
 public:
  void OnReadChunk(Op& op, uint64_t, std::string data, uint32_t) override {
    op.credit->Release(data.size());
    std::lock_guard<std::mutex> lock(mu_);
    ++copied_chunks;
  }
  void OnBufferChunk(Op& op, uint64_t offset, uint64_t bytes, uint32_t crc) override {
    std::lock_guard<std::mutex> lock(mu_);
    chunk_crc_ok = chunk_crc_ok && Crc32c(op.buffer + (offset - op.offset), bytes) == crc;
    chunk_bytes += bytes;
    max_credit_in_use = std::max(max_credit_in_use, op.credit->in_use());
    threads.insert(gettid());
  }
  void OnComplete(Op&) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++done;
    cv_.notify_all();
  }
  bool Wait(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return done >= n; });
  }
  std::mutex mu_;
  std::condition_variable cv_;
  int done = 0;
  int copied_chunks = 0;
  uint64_t chunk_bytes = 0;
  uint64_t max_credit_in_use = 0;
  bool chunk_crc_ok = true;
  std::set<pid_t> threads;  // kernel thread ids
};

class BufferIoTest : public ::testing::TestWithParam<EngineKind> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/overlapd-mapped-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    EngineOptions options;
    options.root_fd = root_fd_ = open(tmpl, O_RDONLY | O_DIRECTORY);
    options.workers = 2;
    options.chunk_bytes = 64 << 10;
    auto engine = CreateEngine(GetParam(), options);
    if (!engine.ok()) GTEST_SKIP() << "engine unavailable: " << engine.status();
    engine_ = *std::move(engine);
    std::mt19937_64 rng(5);
    content_.resize(1 << 20);
    for (char& c : content_) c = static_cast<char>(rng());
    std::ofstream(dir_ + "/f.bin", std::ios::binary) << content_;
  }
  void TearDown() override {
    engine_.reset();
    close(root_fd_);
    std::filesystem::remove_all(dir_);
  }
  std::string dir_;
  int root_fd_ = -1;
  std::unique_ptr<Engine> engine_;
  std::string content_;
};

TEST_P(BufferIoTest, ReadsLandInTheBufferOnEveryWorkerWithoutCredit) {
  int fd = SealedMemfd(2 << 20);
  auto buf = MappedBuffer::Map(fd, 2 << 20).value();
  close(fd);
  memset(buf->data(), 0xEE, buf->size());
  ReadCredit credit(1);  // one byte: a read that charged it would crawl, chunk by chunk
  Sink sink;
  Op op;
  op.path = "f.bin";
  op.offset = 100;
  op.credit = &credit;
  op.sink = &sink;
  op.buffer = buf->data() + 4096;
  op.buffer_bytes = buf->size() - 4096;
  engine_->Submit(&op);
  ASSERT_TRUE(sink.Wait(1));
  ASSERT_EQ(op.result, 0);
  EXPECT_EQ(op.bytes, content_.size() - 100);
  EXPECT_EQ(memcmp(buf->data() + 4096, content_.data() + 100, op.bytes), 0);
  EXPECT_EQ(static_cast<unsigned char>(buf->data()[4095]), 0xEE);
  EXPECT_EQ(static_cast<unsigned char>(buf->data()[4096 + op.bytes]), 0xEE);
  EXPECT_EQ(op.crc32c, Crc32c(content_.data() + 100, op.bytes));
  EXPECT_EQ(sink.chunk_bytes, op.bytes);
  EXPECT_TRUE(sink.chunk_crc_ok);
  EXPECT_EQ(sink.copied_chunks, 0);
  EXPECT_EQ(sink.max_credit_in_use, 0u);
  EXPECT_GE(sink.threads.size(), 2u) << "chunks ran on every worker";

  // A read to EOF with too little room fails before any IO.
  Op small;
  small.path = "f.bin";
  small.credit = &credit;
  small.sink = &sink;
  small.buffer = buf->data();
  small.buffer_bytes = 4096;
  memset(buf->data(), 0xEE, 4096);
  engine_->Submit(&small);
  ASSERT_TRUE(sink.Wait(2));
  EXPECT_EQ(small.result, -EOVERFLOW);
  EXPECT_EQ(static_cast<unsigned char>(buf->data()[0]), 0xEE);
}

TEST_P(BufferIoTest, WritesTakeTheBufferBytes) {
  int fd = SealedMemfd(1 << 20);
  auto buf = MappedBuffer::Map(fd, 1 << 20).value();
  close(fd);
  memcpy(buf->data(), content_.data(), 1 << 20);
  ReadCredit credit(1 << 20);
  Sink sink;
  Op op;
  op.type = OpType::kWrite;
  op.mode = WriteMode::kCreateNew;
  op.path = "w.bin";
  op.credit = &credit;
  op.sink = &sink;
  op.buffer = buf->data();
  op.buffer_bytes = 1 << 20;
  engine_->Submit(&op);
  ASSERT_TRUE(sink.Wait(1));
  ASSERT_EQ(op.result, 0);
  EXPECT_EQ(op.bytes, 1u << 20);
  EXPECT_EQ(op.crc32c, Crc32c(content_));
  std::ifstream in(dir_ + "/w.bin", std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), content_);
}

INSTANTIATE_TEST_SUITE_P(Backends, BufferIoTest,
                         ::testing::Values(EngineKind::kUring, EngineKind::kThreads),
                         [](const auto& info) {
                           return info.param == EngineKind::kUring ? "uring" : "threads";
                         });

}  // namespace
}  // namespace overlapd::io
