#include "service/writer_pool.h"

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace overlapd {
namespace {

class Counting : public Handoff {
 public:
  void RunHandoff() override {
    absl::MutexLock lock(&mu_);
    ++runs_;
    threads_.insert(std::this_thread::get_id());
  }
  int runs() {
    absl::MutexLock lock(&mu_);
    return runs_;
  }
  bool RanOn(std::thread::id id) {
    absl::MutexLock lock(&mu_);
    return threads_.count(id) != 0;
  }

 private:
  absl::Mutex mu_;
  int runs_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<std::thread::id> threads_ ABSL_GUARDED_BY(mu_);
};

TEST(WriterPoolTest, RunsEveryPostOnItsOwnThreads) {
  Counting work;
  {
    WriterPool pool(2);
    for (int i = 0; i < 1000; ++i) pool.Post(&work);
  }  // the destructor runs what is still queued, then joins
  EXPECT_EQ(work.runs(), 1000);
  EXPECT_FALSE(work.RanOn(std::this_thread::get_id()));
}

TEST(WriterPoolTest, PostsFromManyThreadsAllRun) {
  Counting work;
  {
    WriterPool pool(1);
    std::vector<std::thread> posters;
    for (int t = 0; t < 4; ++t) {
      posters.emplace_back([&] {
        for (int i = 0; i < 250; ++i) pool.Post(&work);
      });
    }
    for (std::thread& t : posters) t.join();
  }
  EXPECT_EQ(work.runs(), 1000);
}

}  // namespace
}  // namespace overlapd
