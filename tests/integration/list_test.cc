// Listing a huge directory against a real overlapd: a batch of 64
// List(limit=1) of 100,000 names must not hold up another client's small
// reads (Lists run on the metadata lane, not on the data workers), and
// paging through the directory returns every name once, in order.
//
// Behaviour only: the timings are printed for the record, never asserted
// (tests/bench/list_paging.sh measures paging).
#include <fcntl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/integration/server_harness.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kFiles = 100'000;
constexpr int kLists = 64;
constexpr int kReads = 20;

double MsSince(Clock::time_point t0, Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(t - t0).count();
}

std::string FileName(int i) { return absl::StrCat("entry-", i); }

// A fresh directory on tmpfs (/dev/shm) where there is one, else in /tmp:
// creating 100,000 files takes ~0.2 s on tmpfs but can take 20 s on a busy
// ext4 disk, and the tests are about the server, not the disk.
std::string MakeScratchDir() {
  for (const char* base : {"/dev/shm", "/tmp"}) {
    std::string templ = absl::StrCat(base, "/overlapd-list-XXXXXX");
    if (mkdtemp(templ.data()) != nullptr) return templ;
  }
  return "";
}

// One root shared by the tests of this file: creating 100,000 files is the
// slow part, done once. Each test starts its own server on it.
class ListTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = MakeScratchDir();
    ASSERT_FALSE(dir_.empty()) << "mkdtemp failed";
    root_ = dir_ + "/root";
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir((root_ + "/big").c_str(), 0755), 0);
    const auto t0 = Clock::now();
    for (int i = 0; i < kFiles; ++i) {
      const std::string path = root_ + "/big/" + FileName(i);
      int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      ASSERT_GE(fd, 0) << path;
      close(fd);
    }
    WriteFileOrDie(root_ + "/small.bin", RandomBytes(4096, 7));
    std::printf("[ list ] created %d files in %.0f ms\n", kFiles, MsSince(t0, Clock::now()));
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  void TearDown() override {
    if (HasFailure() && server_ != nullptr) {
      std::string log = server_->Log();
      if (log.size() > 8000) log = "...\n" + log.substr(log.size() - 8000);
      std::fprintf(stderr, "---- overlapd output ----\n%s---- end ----\n", log.c_str());
    }
  }

  void StartServer(const std::vector<std::string>& flags) {
    auto server = ServerProcess::Start(flags, root_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  static std::string dir_;
  static std::string root_;
  std::unique_ptr<ServerProcess> server_;
};

std::string ListTest::dir_;
std::string ListTest::root_;

v1::Op ListOp(uint64_t tag, const std::string& start_after, uint32_t limit) {
  v1::Op op;
  op.set_tag(tag);
  v1::List* list = op.mutable_list();
  list->set_path("big");
  list->set_start_after(start_after);
  list->set_limit(limit);
  return op;
}

// What the client of the List batch saw: when its first List completed and
// when the batch did, and every List's terminal event.
struct ListBatch {
  grpc::Status status;
  Clock::time_point first_list;
  Clock::time_point complete;
  std::vector<v1::Event> lists;
};

// The hostile batch: 64 List(limit=1) of the big directory in one Execute.
// `first` is set once the first List has completed: the rest are then
// queued or running on the server.
ListBatch RunListBatch(v1::IoService::Stub& stub, std::atomic<bool>* first) {
  v1::Batch batch;
  for (int i = 0; i < kLists; ++i) *batch.add_ops() = ListOp(i + 1, "", 1);
  ListBatch out;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto reader = stub.Execute(&ctx, batch);
  v1::EventBatch msg;
  while (reader->Read(&msg)) {
    for (const v1::Event& e : msg.events()) {
      if (e.type() == v1::BATCH_COMPLETE) {
        out.complete = Clock::now();
        continue;
      }
      if (out.lists.empty()) {
        out.first_list = Clock::now();
        first->store(true);
      }
      out.lists.push_back(e);
    }
  }
  out.status = reader->Finish();
  first->store(true);  // also on failure: never leave the reader waiting
  return out;
}

// With the listing cache off, every one of the 64 Lists reads and sorts all
// 100,000 names: the load of the review that found 4 KiB reads stalled for
// 11 s behind it. Another client's reads, started once the first List is
// done (63 then queued or running), must all complete while the batch is
// still running.
TEST_F(ListTest, ListBatchDoesNotStallAnotherClientsReads) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--workers", "2", "--list-cache", "0"}));
  auto list_stub = server_->NewStub();
  auto read_stub = server_->NewStub();
  // Warm the reader's connection and the fd cache before the clock starts.
  CallResult warm = RunExecute(*read_stub, [] {
    v1::Batch b;
    *b.add_ops() = ReadOp(1, "small.bin");
    return b;
  }());
  ASSERT_TRUE(warm.status.ok()) << warm.status.error_message();

  std::atomic<bool> first{false};
  const auto t0 = Clock::now();
  ListBatch lists;
  std::thread lister([&] { lists = RunListBatch(*list_stub, &first); });
  while (!first.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::vector<Clock::time_point> read_done;
  std::vector<double> read_ms;
  std::vector<CallResult> reads;
  for (int i = 0; i < kReads; ++i) {
    v1::Batch b;
    *b.add_ops() = ReadOp(100 + i, "small.bin");
    const auto start = Clock::now();
    reads.push_back(RunExecute(*read_stub, b, std::chrono::seconds(120)));
    read_done.push_back(Clock::now());
    read_ms.push_back(MsSince(start, read_done.back()));
  }
  lister.join();  // before any ASSERT can leave the test

  for (int i = 0; i < kReads; ++i) {
    ASSERT_TRUE(reads[i].status.ok()) << "read " << i << ": " << reads[i].status.error_message();
    auto ops = GroupByTag(reads[i].events);
    ASSERT_EQ(ops.size(), 1u);
    const v1::Event* done = ops.begin()->second.terminal();
    ASSERT_NE(done, nullptr) << "read " << i;
    EXPECT_EQ(done->type(), v1::READ_COMPLETE) << Describe(*done);
    EXPECT_EQ(ops.begin()->second.data.size(), 4096u) << "read " << i;
  }
  ASSERT_TRUE(lists.status.ok()) << lists.status.error_message();
  ASSERT_EQ(lists.lists.size(), static_cast<size_t>(kLists));
  for (const v1::Event& e : lists.lists) {
    ASSERT_EQ(e.type(), v1::LIST_COMPLETE) << Describe(e);
    ASSERT_EQ(e.entries_size(), 1);
    EXPECT_EQ(e.entries(0).name(), "entry-0");
    EXPECT_TRUE(e.more_entries());
  }
  int overlapped = 0;
  double worst = 0;
  for (int i = 0; i < kReads; ++i) {
    if (read_done[i] < lists.complete) ++overlapped;
    worst = std::max(worst, read_ms[i]);
  }
  std::printf("[ list ] 64 x List(limit=1) of %d names, no cache: first List %.0f ms, "
              "batch %.0f ms; %d reads of 4 KiB: worst %.2f ms, %d of %d done before the "
              "batch\n",
              kFiles, MsSince(t0, lists.first_list), MsSince(t0, lists.complete), kReads,
              worst, overlapped, kReads);
  // Guard against testing nothing: the reads must have run while Lists
  // were still queued or running (otherwise the batch ended first, and
  // nothing could have stalled them).
  EXPECT_GT(overlapped, 0) << "every read finished after the List batch: no overlap was "
                              "exercised, or the reads waited for the Lists";
}

// With the cache on (the default): the same batch, then a walk through the
// whole directory 1,000 names a page: every name once, in order.
TEST_F(ListTest, PagingReturnsEveryNameOnceInOrder) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--workers", "2"}));
  auto stub = server_->NewStub();
  std::atomic<bool> first{false};
  auto t0 = Clock::now();
  ListBatch lists = RunListBatch(*stub, &first);
  ASSERT_TRUE(lists.status.ok()) << lists.status.error_message();
  ASSERT_EQ(lists.lists.size(), static_cast<size_t>(kLists));
  for (const v1::Event& e : lists.lists) {
    ASSERT_EQ(e.type(), v1::LIST_COMPLETE) << Describe(e);
    ASSERT_EQ(e.entries_size(), 1);
    EXPECT_EQ(e.entries(0).name(), "entry-0");
  }
  std::printf("[ list ] 64 x List(limit=1), cache on: batch %.0f ms\n",
              MsSince(t0, lists.complete));

  std::vector<std::string> want;
  for (int i = 0; i < kFiles; ++i) want.push_back(FileName(i));
  std::sort(want.begin(), want.end());
  std::vector<std::string> got;
  t0 = Clock::now();
  int pages = 0;
  for (bool more = true; more; ++pages) {
    v1::Batch b;
    *b.add_ops() = ListOp(1, got.empty() ? "" : got.back(), 1000);
    CallResult r = RunExecute(*stub, b);
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    ASSERT_FALSE(r.events.empty());
    const v1::Event& e = r.events.front();
    ASSERT_EQ(e.type(), v1::LIST_COMPLETE) << Describe(e);
    for (const v1::FileInfo& info : e.entries()) got.push_back(info.name());
    more = e.more_entries();
    ASSERT_LE(pages, kFiles / 1000 + 1) << "paging does not end";
  }
  std::printf("[ list ] %d pages of 1,000: %.0f ms\n", pages, MsSince(t0, Clock::now()));
  EXPECT_EQ(pages, kFiles / 1000);
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace overlapd::itest
