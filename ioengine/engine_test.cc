// Engine tests against real files in a temp dir, on both backends.
#include "ioengine/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <thread>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "ioengine/crc32c.h"
#include "ioengine/dir_snapshot.h"
#include "ioengine/engine_core.h"
#include "ioengine/engine_test_util.h"
#include "ioengine/thread_pool_engine.h"
#include "ioengine/uring_engine.h"

namespace overlapd::io {
namespace {

struct Backend {
  std::string name;
  EngineKind kind;
};

class EngineTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/overlapd-engine-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_fd_ = open(tmpl, O_RDONLY | O_DIRECTORY);
    ASSERT_GE(root_fd_, 0);
  }
  void TearDown() override {
    engine_.reset();
    close(root_fd_);
    fs::remove_all(dir_);
  }

  // Creates the engine under test; io_uring refused by the kernel skips.
  void MakeEngine(EngineOptions opts = {}) {
    opts.root_fd = root_fd_;
    if (opts.workers == 0) opts.workers = 2;
    auto e = CreateEngine(GetParam().kind, opts);
    if (!e.ok() && GetParam().kind == EngineKind::kUring) {
      GTEST_SKIP() << "io_uring unavailable: " << e.status();
    }
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = std::move(*e);
    ASSERT_EQ(engine_->name(), GetParam().name);
  }

  // Ops hold atomics and stay put once submitted: tests keep them on the heap.
  std::unique_ptr<Op> ReadOp(std::string path, uint64_t offset = 0,
                             uint64_t length = 0) {
    auto op = std::make_unique<Op>();
    op->type = OpType::kRead;
    op->path = std::move(path);
    op->offset = offset;
    op->length = length;
    op->credit = &credit_;
    op->sink = &sink_;
    return op;
  }

  std::unique_ptr<Op> WriteOp(std::string path, std::string data,
                              WriteMode mode = WriteMode::kAt) {
    auto op = std::make_unique<Op>();
    op->type = OpType::kWrite;
    op->path = std::move(path);
    op->data = std::move(data);
    op->mode = mode;
    op->sink = &sink_;
    return op;
  }

  fs::path dir_;
  int root_fd_ = -1;
  ReadCredit credit_{64 << 20};
  Collector sink_;
  std::unique_ptr<Engine> engine_;
};

TEST_P(EngineTest, ReadsWholeSmallFile) {
  MakeEngine();
  std::string data = RandomBytes(10'000, 1);
  WriteAll(dir_ / "small", data);
  auto op = ReadOp("small");
  engine_->Submit(op.get());
  ASSERT_TRUE(sink_.Wait(1));
  EXPECT_EQ(op->result, 0);
  EXPECT_EQ(op->bytes, data.size());
  EXPECT_EQ(sink_.Assemble(op.get()), data);
  EXPECT_EQ(op->crc32c, Crc32c(data));
}

// Reads to EOF of a cached file assume the size seen last time and read one
// byte past it: a file that grew, shrank or kept its size in between must
// still be read whole, within one chunk and across many.
TEST_P(EngineTest, ReadsToEofFollowTheFileAsItIsNow) {
  EngineOptions opts;
  opts.chunk_bytes = 4096;
  MakeEngine(opts);
  struct Step {
    size_t size;
    const char* what;
  };
  const Step steps[] = {
      {1000, "first read: sized by fstat"},
      {1000, "same size: the assumed size holds"},
      {3000, "grew within the chunk"},
      {4096 * 5 + 17, "grew across chunks"},
      {4096 * 5 + 17, "same size, many chunks"},
      {4096, "shrank to one full chunk"},
      {4097, "grew by one byte past a chunk"},
      {0, "emptied"},
      {9000, "grew from empty"},
  };
  uint32_t seed = 100;
  std::vector<std::unique_ptr<Op>> ops;  // the collector keys chunks by op
  for (const Step& step : steps) {
    SCOPED_TRACE(step.what);
    std::string data = RandomBytes(step.size, seed++);
    // Rewrite in place: the cached fd keeps naming the same inode.
    int fd = open((dir_ / "grows").c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, 0), 0);
    ASSERT_EQ(pwrite(fd, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
    close(fd);
    ops.push_back(ReadOp("grows"));
    Op* op = ops.back().get();
    engine_->Submit(op);
    ASSERT_TRUE(sink_.Wait(ops.size()));
    EXPECT_EQ(op->result, 0);
    EXPECT_EQ(op->bytes, data.size());
    EXPECT_TRUE(sink_.Assemble(op) == data) << "content differs";
    EXPECT_EQ(op->crc32c, Crc32c(data));
  }
}

TEST_P(EngineTest, DepthOneRingRunsMoreOpsThanSlots) {
  EngineOptions opts;
  opts.workers = 1;
  opts.queue_depth = 1;
  opts.chunk_bytes = 4096;
  MakeEngine(opts);
  constexpr int kFiles = 50;
  std::vector<std::string> contents;
  for (int i = 0; i < kFiles; ++i) {
    contents.push_back(RandomBytes(4096 * 3 + i, i));
    WriteAll(dir_ / std::string("f").append(std::to_string(i)), contents.back());
  }
  std::vector<std::unique_ptr<Op>> ops;
  for (int i = 0; i < kFiles; ++i) ops.push_back(ReadOp(std::string("f").append(std::to_string(i))));
  for (auto& op : ops) engine_->Submit(op.get());
  ASSERT_TRUE(sink_.Wait(kFiles));
  for (int i = 0; i < kFiles; ++i) {
    EXPECT_EQ(ops[i]->result, 0);
    EXPECT_EQ(sink_.Assemble(ops[i].get()), contents[i]) << "file " << i;
  }
  EXPECT_EQ(engine_->worker_stats(0).in_kernel.load(), 0);
}

TEST_P(EngineTest, ShortReadsAtEof) {
  MakeEngine();
  std::string data = RandomBytes(1000, 2);
  WriteAll(dir_ / "f", data);
  auto tail = ReadOp("f", 990, 100);     // asks past EOF: gets the last 10
  auto past = ReadOp("f", 5000, 100);    // starts past EOF: gets nothing
  auto to_eof = ReadOp("f", 100, 0);     // length 0: to EOF
  engine_->Submit(tail.get());
  engine_->Submit(past.get());
  engine_->Submit(to_eof.get());
  ASSERT_TRUE(sink_.Wait(3));
  EXPECT_EQ(tail->result, 0);
  EXPECT_EQ(tail->bytes, 10u);
  EXPECT_EQ(sink_.Assemble(tail.get()), data.substr(990));
  EXPECT_EQ(past->result, 0);
  EXPECT_EQ(past->bytes, 0u);
  EXPECT_EQ(sink_.chunk_count(past.get()), 0u);
  EXPECT_EQ(to_eof->bytes, 900u);
  EXPECT_EQ(sink_.Assemble(to_eof.get()), data.substr(100));
}

TEST_P(EngineTest, LargeReadSplitsIntoChunksWithMatchingCrcs) {
  EngineOptions opts;
  opts.chunk_bytes = 1 << 20;
  MakeEngine(opts);
  constexpr size_t kSize = 64 << 20;
  std::string data = RandomBytes(kSize, 3);
  WriteAll(dir_ / "big", data);
  auto op = ReadOp("big");
  engine_->Submit(op.get());
  ASSERT_TRUE(sink_.Wait(1));
  ASSERT_EQ(op->result, 0);
  EXPECT_EQ(op->bytes, kSize);
  auto chunks = sink_.chunks(op.get());
  ASSERT_EQ(chunks.size(), 64u);
  for (const auto& c : chunks) {
    ASSERT_EQ(c.data.size(), 1u << 20);
    EXPECT_EQ(c.crc, Crc32c(data.data() + c.offset, c.data.size()))
        << "chunk at " << c.offset;
    EXPECT_EQ(c.data, std::string_view(data).substr(c.offset, c.data.size()));
  }
  EXPECT_EQ(op->crc32c, Crc32c(data));
}

TEST_P(EngineTest, CreditBoundsChunksInFlight) {
  EngineOptions opts;
  opts.chunk_bytes = 64 << 10;
  MakeEngine(opts);
  std::string data = RandomBytes(4 << 20, 4);  // 64 chunks
  WriteAll(dir_ / "f", data);
  Collector slow(/*release_credit=*/false);
  ReadCredit credit(256 << 10);  // four chunks
  auto op = ReadOp("f");
  op->credit = &credit;
  op->sink = &slow;
  engine_->Submit(op.get());
  ASSERT_TRUE(slow.WaitChunks(op.get(), 4));
  // The op parks on its credit once it finds none: from then on nothing
  // more can be issued (no sleep proves a negative here: the parked state
  // is the proof, and it is waited for, bounded).
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (credit.parked() == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::yield();
  }
  ASSERT_EQ(credit.parked(), 1u) << "the op never parked on its credit";
  EXPECT_EQ(slow.chunk_count(op.get()), 4u) << "issued past the credit";
  EXPECT_LE(credit.in_use(), 256u << 10);
  // Releasing what was consumed lets the rest through.
  for (size_t consumed = 0; consumed < 64;) {
    size_t have = slow.chunk_count(op.get());
    if (have > consumed) {
      credit.Release((have - consumed) * (64 << 10));
      consumed = have;
    } else {
      ASSERT_TRUE(slow.WaitChunks(op.get(), consumed + 1)) << "stalled at " << consumed;
    }
  }
  ASSERT_TRUE(slow.Wait(1));
  EXPECT_EQ(op->result, 0);
  EXPECT_EQ(slow.Assemble(op.get()), data);
}

TEST_P(EngineTest, LinkChainFailureCancelsTheRest) {
  MakeEngine();
  WriteAll(dir_ / "exists", "old");
  auto write = WriteOp("exists", "new", WriteMode::kCreateNew);  // EEXIST
  auto fsync = std::make_unique<Op>();
  fsync->type = OpType::kFsync;
  fsync->path = "exists";
  fsync->sink = &sink_;
  auto read = ReadOp("exists");
  write->link_next = fsync.get();
  fsync->link_next = read.get();
  engine_->Submit(write.get());
  ASSERT_TRUE(sink_.Wait(3));
  EXPECT_EQ(write->result, -EEXIST);
  EXPECT_EQ(fsync->result, -ECANCELED);
  EXPECT_EQ(read->result, -ECANCELED);
  EXPECT_EQ(sink_.chunk_count(read.get()), 0u);
  EXPECT_EQ(sink_.order(), (std::vector<Op*>{write.get(), fsync.get(), read.get()}));
  EXPECT_EQ(ReadAll(dir_ / "exists"), "old");
}

TEST_P(EngineTest, LinkChainRunsInOrderOnSuccess) {
  MakeEngine();
  auto write = WriteOp("chain", "payload", WriteMode::kCreateNew);
  write->durability = Durability::kFull;
  auto read = ReadOp("chain");
  write->link_next = read.get();
  engine_->Submit(write.get());
  ASSERT_TRUE(sink_.Wait(2));
  EXPECT_EQ(write->result, 0);
  EXPECT_EQ(read->result, 0);
  EXPECT_EQ(sink_.Assemble(read.get()), "payload");
}

TEST_P(EngineTest, WriteModes) {
  EngineOptions opts;
  opts.chunk_bytes = 4096;
  MakeEngine(opts);
  std::string big = RandomBytes(100'000, 5);  // many chunks over all workers
  auto create = WriteOp("w", big, WriteMode::kCreateNew);
  create->durability = Durability::kData;
  engine_->Submit(create.get());
  ASSERT_TRUE(sink_.Wait(1));
  EXPECT_EQ(create->result, 0);
  EXPECT_EQ(create->bytes, big.size());
  EXPECT_EQ(create->crc32c, Crc32c(big));
  EXPECT_EQ(ReadAll(dir_ / "w"), big);

  auto at = WriteOp("w", "XYZ");
  at->offset = 10;
  engine_->Submit(at.get());
  ASSERT_TRUE(sink_.Wait(2));
  big.replace(10, 3, "XYZ");
  EXPECT_EQ(ReadAll(dir_ / "w"), big);

  auto append = WriteOp("w", "tail", WriteMode::kAppend);
  engine_->Submit(append.get());
  ASSERT_TRUE(sink_.Wait(3));
  EXPECT_EQ(ReadAll(dir_ / "w"), big + "tail");

  auto trunc = WriteOp("w", "short", WriteMode::kTruncate);
  engine_->Submit(trunc.get());
  ASSERT_TRUE(sink_.Wait(4));
  EXPECT_EQ(ReadAll(dir_ / "w"), "short");

  auto empty = WriteOp("empty", "", WriteMode::kCreateNew);
  engine_->Submit(empty.get());
  ASSERT_TRUE(sink_.Wait(5));
  EXPECT_EQ(empty->result, 0);
  EXPECT_TRUE(fs::exists(dir_ / "empty"));
}

TEST_P(EngineTest, CrcMismatchFailsBeforeTouchingTheFile) {
  MakeEngine();
  WriteAll(dir_ / "f", "original");
  auto op = WriteOp("f", "replacement", WriteMode::kTruncate);
  op->expected_crc32c = Crc32c("something else");
  engine_->Submit(op.get());
  ASSERT_TRUE(sink_.Wait(1));
  EXPECT_EQ(op->result, -EBADMSG);
  EXPECT_EQ(op->bytes, 0u);
  EXPECT_EQ(ReadAll(dir_ / "f"), "original");
}

TEST_P(EngineTest, StatAndListPages) {
  MakeEngine();
  fs::create_directory(dir_ / "d");
  for (int i = 0; i < 5; ++i) {
    WriteAll(dir_ / "d" / ("e" + std::to_string(i)), std::string(i * 10, 'x'));
  }
  fs::create_directory(dir_ / "d" / "sub");
  auto stat = std::make_unique<Op>();
  stat->type = OpType::kStat;
  stat->path = "d/e3";
  stat->sink = &sink_;
  auto page1 = std::make_unique<Op>();
  page1->type = OpType::kList;
  page1->path = "d";
  page1->limit = 4;
  page1->sink = &sink_;
  engine_->Submit(stat.get());
  engine_->Submit(page1.get());
  ASSERT_TRUE(sink_.Wait(2));
  EXPECT_EQ(stat->result, 0);
  EXPECT_EQ(stat->stat.type, FileType::kRegular);
  EXPECT_EQ(stat->stat.size, 30u);
  ASSERT_EQ(page1->entries.size(), 4u);
  EXPECT_TRUE(page1->more_entries);
  EXPECT_EQ(page1->entries[0].name, "e0");
  auto page2 = std::make_unique<Op>();
  page2->type = OpType::kList;
  page2->path = "d";
  page2->limit = 4;
  page2->start_after = page1->entries.back().name;
  page2->sink = &sink_;
  engine_->Submit(page2.get());
  ASSERT_TRUE(sink_.Wait(3));
  ASSERT_EQ(page2->entries.size(), 2u);
  EXPECT_EQ(page2->entries[0].name, "e4");
  EXPECT_EQ(page2->entries[1].name, "sub");
  EXPECT_EQ(page2->entries[1].type, FileType::kDirectory);
  EXPECT_FALSE(page2->more_entries);
}

std::unique_ptr<Op> ListOp(std::string path, std::string start_after, uint32_t limit,
                           OpSink* sink) {
  auto op = std::make_unique<Op>();
  op->type = OpType::kList;
  op->path = std::move(path);
  op->start_after = std::move(start_after);
  op->limit = limit;
  op->sink = sink;
  return op;
}

// Waits until the directory's ctime is old enough for its snapshot to be
// cached (DirSnapshotCache::Settled), polling that condition.
bool WaitSettled(const fs::path& dir) {
  for (int i = 0; i < 500; ++i) {
    struct stat sb;
    if (stat(dir.c_str(), &sb) != 0) return false;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (DirSnapshotCache::Settled(sb, now.tv_sec * 1'000'000'000LL + now.tv_nsec)) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// Pages through 20,000 names 100 at a time: every name once, in order. A
// file created between pages appears if its name sorts after the page
// cursor, and not if it sorts before (the cursor has passed it). Once the
// directory has settled, pages come from the cached snapshot.
TEST_P(EngineTest, ListPagesThroughALargeDirectory) {
  MakeEngine();
  constexpr int kFiles = 20'000;
  fs::create_directory(dir_ / "big");
  std::vector<std::string> want;
  for (int i = 0; i < kFiles; ++i) {
    want.push_back(std::string("f").append(std::to_string(i * 7919 % kFiles)));
    int fd = open((dir_ / "big" / want.back()).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    close(fd);
  }
  ASSERT_TRUE(WaitSettled(dir_ / "big"));
  std::vector<std::string> got;
  std::vector<std::unique_ptr<Op>> pages;
  bool more = true;
  while (more) {
    pages.push_back(ListOp("big", got.empty() ? "" : got.back(), 100, &sink_));
    Op* page = pages.back().get();
    engine_->Submit(page);
    ASSERT_TRUE(sink_.Wait(pages.size()));
    ASSERT_EQ(page->result, 0);
    ASSERT_LE(page->entries.size(), 100u);
    for (const FileInfo& e : page->entries) {
      EXPECT_EQ(e.type, FileType::kRegular);
      got.push_back(e.name);
    }
    more = page->more_entries;
    if (pages.size() == 50) {
      WriteAll(dir_ / "big" / "a-before-the-cursor", "");
      WriteAll(dir_ / "big" / "zz-after-the-cursor", "x");
      want.push_back("zz-after-the-cursor");
    }
  }
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);  // sorted, each name once, the late "zz" included
  EXPECT_EQ(pages.size(), static_cast<size_t>(kFiles / 100 + 1));
  auto& core = dynamic_cast<EngineCore&>(*engine_);
  EXPECT_GE(core.dir_snapshots().stats().hits, 40u) << "pages were not served from the cache";
}

// An OpSink whose OnComplete blocks until Open(): holds the thread that
// completes an op, deterministically.
class GateSink : public OpSink {
 public:
  void OnReadChunk(Op&, uint64_t, std::string, uint32_t) override {}
  void OnComplete(Op&) override {
    std::unique_lock<std::mutex> lock(mu_);
    entered_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  bool WaitEntered() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, 30s, [&] { return entered_; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool open_ = false;
};

// With the one metadata thread held inside a List's completion, a read on
// the one data worker still completes (metadata never runs on the data
// workers), and a List queued behind the held one and cancelled there
// completes with -ECANCELED once the lane moves on.
TEST_P(EngineTest, MetadataLaneNeitherStallsReadsNorLosesCancelledOps) {
  EngineOptions opts;
  opts.workers = 1;
  opts.metadata_threads = 1;
  MakeEngine(opts);
  fs::create_directory(dir_ / "d");
  WriteAll(dir_ / "d" / "f", RandomBytes(4096, 3));
  GateSink gate;
  auto held = ListOp("d", "", 10, &gate);
  engine_->Submit(held.get());
  ASSERT_TRUE(gate.WaitEntered());
  auto queued = ListOp("d", "", 10, &sink_);
  engine_->Submit(queued.get());
  engine_->Cancel(queued.get());
  auto control = ListOp("d", "", 10, &sink_);
  engine_->Submit(control.get());
  auto read = ReadOp("d/f");
  engine_->Submit(read.get());
  const bool read_done = sink_.Wait(1, 10s);
  gate.Open();  // whatever happened, let the engine finish
  ASSERT_TRUE(read_done) << "a read waited for the metadata lane";
  EXPECT_EQ(sink_.order().front(), read.get());
  EXPECT_EQ(read->result, 0);
  EXPECT_EQ(read->bytes, 4096u);
  ASSERT_TRUE(sink_.Wait(3));
  EXPECT_EQ(held->result, 0);
  EXPECT_EQ(queued->result, -ECANCELED);
  EXPECT_TRUE(queued->entries.empty());
  EXPECT_EQ(control->result, 0);  // positive control: not cancelled, listed
  ASSERT_EQ(control->entries.size(), 1u);
  EXPECT_EQ(control->entries[0].name, "f");
}

TEST_P(EngineTest, RunTimeErrorsCarryErrno) {
  MakeEngine();
  fs::create_directory(dir_ / "adir");
  auto missing = ReadOp("nope");
  auto dir_read = ReadOp("adir");
  auto no_parent = WriteOp("no/such/dir/f", "x");
  engine_->Submit(missing.get());
  engine_->Submit(dir_read.get());
  engine_->Submit(no_parent.get());
  ASSERT_TRUE(sink_.Wait(3));
  EXPECT_EQ(missing->result, -ENOENT);
  EXPECT_EQ(dir_read->result, -EISDIR);
  EXPECT_EQ(no_parent->result, -ENOENT);
}

TEST_P(EngineTest, SandboxRefusesEscapes) {
  MakeEngine();
  fs::path outside = dir_.string() + "-outside";
  fs::create_directory(outside);
  WriteAll(outside / "secret", "secret");
  fs::create_symlink(outside / "secret", dir_ / "link_out");
  fs::create_symlink(outside, dir_ / "dir_out");
  auto dotdot = ReadOp("../" + outside.filename().string() + "/secret");
  auto link = ReadOp("link_out");
  auto write_through = WriteOp("dir_out/created", "x");
  auto proc = ReadOp("/proc/self/root/etc/passwd");
  engine_->Submit(dotdot.get());
  engine_->Submit(link.get());
  engine_->Submit(write_through.get());
  engine_->Submit(proc.get());
  ASSERT_TRUE(sink_.Wait(4));
  EXPECT_EQ(dotdot->result, -EXDEV);
  EXPECT_EQ(link->result, -EXDEV);
  EXPECT_EQ(write_through->result, -EXDEV);
  EXPECT_EQ(proc->result, -EXDEV);
  EXPECT_FALSE(fs::exists(outside / "created"));
  fs::remove_all(outside);
}

TEST_P(EngineTest, CancelStopsIssuingChunks) {
  EngineOptions opts;
  opts.chunk_bytes = 64 << 10;
  MakeEngine(opts);
  WriteAll(dir_ / "f", RandomBytes(8 << 20, 6));
  Collector slow(/*release_credit=*/false);
  ReadCredit credit(128 << 10);
  auto op = ReadOp("f");
  op->credit = &credit;
  op->sink = &slow;
  engine_->Submit(op.get());
  ASSERT_TRUE(slow.WaitChunks(op.get(), 2));
  engine_->Cancel(op.get());
  credit.Open();  // teardown: wake the parked op so it sees the cancel
  ASSERT_TRUE(slow.Wait(1));
  EXPECT_EQ(op->result, -ECANCELED);
  EXPECT_LT(op->bytes, 8u << 20);
  EXPECT_GE(op->bytes, 128u << 10);
}

TEST_P(EngineTest, ManyConcurrentSmallOps) {
  MakeEngine();
  constexpr int kOps = 2000;
  std::vector<std::unique_ptr<Op>> ops;
  for (int i = 0; i < kOps; ++i) {
    ops.push_back(WriteOp(std::string("s").append(std::to_string(i % 100)), std::to_string(i)));
  }
  for (auto& op : ops) engine_->Submit(op.get());
  ASSERT_TRUE(sink_.Wait(kOps));
  for (auto& op : ops) EXPECT_EQ(op->result, 0);
}

std::unique_ptr<Op> PathOp(OpType type, std::string path, std::string dst_path,
                           OpSink* sink) {
  auto op = std::make_unique<Op>();
  op->type = type;
  op->path = std::move(path);
  op->dst_path = std::move(dst_path);
  op->sink = sink;
  return op;
}

bool HasTempFiles(const fs::path& dir) {
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.path().filename().string().find(TempMarker(TempKind::kAtomic)) != std::string::npos) {
      return true;
    }
  }
  return false;
}

TEST_P(EngineTest, CopyIsChunkedAndChecksummed) {
  EngineOptions opts;
  opts.chunk_bytes = 256 << 10;
  MakeEngine(opts);
  std::string data = RandomBytes((5 << 20) + 123, 11);
  WriteAll(dir_ / "src", data);
  WriteAll(dir_ / "dst", "old content that is longer than nothing");
  auto copy = PathOp(OpType::kCopy, "src", "dst", &sink_);
  copy->credit = &credit_;
  copy->durability = Durability::kFull;
  engine_->Submit(copy.get());
  ASSERT_TRUE(sink_.Wait(1));
  ASSERT_EQ(copy->result, 0);
  EXPECT_EQ(copy->bytes, data.size());
  EXPECT_EQ(copy->crc32c, Crc32c(data));
  EXPECT_EQ(ReadAll(dir_ / "dst"), data);
  EXPECT_EQ(credit_.in_use(), 0u);
}

// A copy writes a temp file and renames it over its destination, so a copy
// onto its own source replaces the file with an identical one.
TEST_P(EngineTest, CopyOntoItselfKeepsTheData) {
  MakeEngine();
  WriteAll(dir_ / "f", "precious");
  auto copy = PathOp(OpType::kCopy, "f", "./f", &sink_);
  copy->credit = &credit_;
  engine_->Submit(copy.get());
  ASSERT_TRUE(sink_.Wait(1));
  EXPECT_EQ(copy->result, 0);
  EXPECT_EQ(ReadAll(dir_ / "f"), "precious");
  EXPECT_FALSE(HasTempFiles(dir_));
}

TEST_P(EngineTest, RenameDeleteMkdir) {
  MakeEngine();
  WriteAll(dir_ / "a", "A");
  WriteAll(dir_ / "b", "B");
  auto keep = PathOp(OpType::kRename, "a", "b", &sink_);
  keep->no_replace = true;
  engine_->Submit(keep.get());
  ASSERT_TRUE(sink_.Wait(1));
  EXPECT_EQ(keep->result, -EEXIST);
  auto mk = PathOp(OpType::kMkdir, "x/y/z", "", &sink_);
  mk->parents = true;
  engine_->Submit(mk.get());
  ASSERT_TRUE(sink_.Wait(2));
  EXPECT_EQ(mk->result, 0);
  EXPECT_TRUE(fs::is_directory(dir_ / "x/y/z"));
  auto again = PathOp(OpType::kMkdir, "x/y/z", "", &sink_);
  engine_->Submit(again.get());
  ASSERT_TRUE(sink_.Wait(3));
  EXPECT_EQ(again->result, -EEXIST);
  auto mv = PathOp(OpType::kRename, "a", "x/y/z/a2", &sink_);
  engine_->Submit(mv.get());
  ASSERT_TRUE(sink_.Wait(4));
  EXPECT_EQ(mv->result, 0);
  EXPECT_EQ(ReadAll(dir_ / "x/y/z/a2"), "A");
  auto rm = PathOp(OpType::kDelete, "b", "", &sink_);
  auto rmdir_full = PathOp(OpType::kDelete, "x/y", "", &sink_);
  rmdir_full->directory = true;
  engine_->Submit(rm.get());
  engine_->Submit(rmdir_full.get());
  ASSERT_TRUE(sink_.Wait(6));
  EXPECT_EQ(rm->result, 0);
  EXPECT_FALSE(fs::exists(dir_ / "b"));
  EXPECT_EQ(rmdir_full->result, -ENOTEMPTY);
  auto escape = PathOp(OpType::kRename, "x", "../x-escaped", &sink_);
  engine_->Submit(escape.get());
  ASSERT_TRUE(sink_.Wait(7));
  EXPECT_EQ(escape->result, -EXDEV);
}

TEST_P(EngineTest, AtomicReplaceSwapsWholeFile) {
  EngineOptions opts;
  opts.chunk_bytes = 64 << 10;
  MakeEngine(opts);
  fs::create_directory(dir_ / "d");
  WriteAll(dir_ / "d" / "f", "old");
  std::string data = RandomBytes(1 << 20, 12);
  auto w = WriteOp("d/f", data, WriteMode::kReplaceAtomic);
  engine_->Submit(w.get());
  ASSERT_TRUE(sink_.Wait(1));
  ASSERT_EQ(w->result, 0);
  EXPECT_EQ(ReadAll(dir_ / "d" / "f"), data);
  EXPECT_FALSE(HasTempFiles(dir_));
}

TEST_P(EngineTest, CancelledAtomicReplaceLeavesOldFileAndNoTemp) {
  EngineOptions opts;
  opts.chunk_bytes = 4096;
  opts.workers = 1;
  opts.queue_depth = 1;
  MakeEngine(opts);
  WriteAll(dir_ / "f", "old");
  auto w = WriteOp("f", RandomBytes(32 << 20, 13), WriteMode::kReplaceAtomic);
  engine_->Submit(w.get());
  engine_->Cancel(w.get());
  ASSERT_TRUE(sink_.Wait(1));
  EXPECT_EQ(w->result, -ECANCELED);
  EXPECT_LT(w->bytes, 32u << 20);
  EXPECT_EQ(ReadAll(dir_ / "f"), "old");
  EXPECT_FALSE(HasTempFiles(dir_));
}

TEST_P(EngineTest, CancelledCopyReportsPartialBytes) {
  EngineOptions opts;
  opts.chunk_bytes = 64 << 10;
  MakeEngine(opts);
  WriteAll(dir_ / "src", RandomBytes(64 << 20, 14));
  ReadCredit credit(1 << 20);
  auto copy = PathOp(OpType::kCopy, "src", "dst", &sink_);
  copy->credit = &credit;
  engine_->Submit(copy.get());
  // Let some chunks through, then cancel half way.
  for (int i = 0; i < 2000 && copy->progress_bytes() < (4u << 20); ++i) {
    std::this_thread::sleep_for(1ms);
  }
  engine_->Cancel(copy.get());
  ASSERT_TRUE(sink_.Wait(1));
  EXPECT_EQ(copy->result, -ECANCELED);
  EXPECT_LT(copy->bytes, 64u << 20);
  EXPECT_EQ(credit.in_use(), 0u);
  // Nothing partial stays: the copy went to a temp file, now removed.
  EXPECT_FALSE(fs::exists(dir_ / "dst"));
  EXPECT_FALSE(HasTempFiles(dir_));
}

TEST_P(EngineTest, DirectReadsBypassTheCache) {
  EngineOptions opts;
  opts.chunk_bytes = 64 << 10;
  MakeEngine(opts);
  std::string data = RandomBytes((1 << 20) + 1000, 15);  // unaligned size
  WriteAll(dir_ / "f", data);
  auto whole = ReadOp("f");
  whole->direct = true;
  auto part = ReadOp("f", 8192, 5000);
  part->direct = true;
  auto misaligned = ReadOp("f", 100, 10);
  misaligned->direct = true;
  engine_->Submit(whole.get());
  engine_->Submit(part.get());
  engine_->Submit(misaligned.get());
  ASSERT_TRUE(sink_.Wait(3));
  if (whole->result == -EINVAL) {
    GTEST_SKIP() << "this filesystem refuses O_DIRECT (tmpfs?)";
  }
  ASSERT_EQ(whole->result, 0);
  EXPECT_EQ(sink_.Assemble(whole.get()), data);
  EXPECT_EQ(whole->crc32c, Crc32c(data));
  ASSERT_EQ(part->result, 0);
  EXPECT_EQ(sink_.Assemble(part.get()), data.substr(8192, 5000));
  EXPECT_EQ(misaligned->result, -EINVAL);
  EXPECT_EQ(credit_.in_use(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Backends, EngineTest,
    ::testing::Values(Backend{"uring", EngineKind::kUring},
                      Backend{"threads", EngineKind::kThreads}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace overlapd::io
