#include "service/stream_writer.h"

#include <atomic>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "service/service_context.h"

namespace overlapd {
namespace {

// A stream whose "writes" complete on another thread, like gRPC's: items
// pushed from many threads must all be written, one write at a time, with
// no item left behind when the pushing stops (no lost wake-up).
class FakeStream : public StreamWriter {
 public:
  ~FakeStream() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    if (completer_.joinable()) completer_.join();
  }
  void Push(int item) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(item);
    }
    Kick();
  }
  void StartCompleter() {
    completer_ = std::thread([this] {
      for (;;) {
        bool complete = false;
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (stop_ && !in_flight_) return;
          complete = in_flight_;
        }
        if (complete) {
          {
            std::lock_guard<std::mutex> lock(mu_);
            in_flight_ = false;
          }
          WriteDone();  // as gRPC's OnWriteDone would
        } else {
          std::this_thread::yield();
        }
      }
    });
  }
  std::vector<int> written() {
    std::lock_guard<std::mutex> lock(mu_);
    return written_;
  }
  int max_concurrent_steps() const { return max_concurrent_.load(); }
  bool idle() {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.empty() && !in_flight_;
  }

 private:
  bool Step() override {
    int now = ++in_step_;
    int seen = max_concurrent_.load();
    while (now > seen && !max_concurrent_.compare_exchange_weak(seen, now)) {
    }
    bool started = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!queue_.empty()) {
        written_.push_back(queue_.front());
        queue_.pop_front();
        started = true;
      }
    }
    if (started) MarkWriteStarted();
    --in_step_;
    // StartWrite is the last act of a real Step: its completion may run on
    // another thread at once.
    if (started) {
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_ = true;
    }
    return started;
  }
  bool HasWork() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return !queue_.empty();
  }

  mutable std::mutex mu_;
  std::deque<int> queue_;
  std::vector<int> written_;
  bool in_flight_ = false;
  bool stop_ = false;
  std::atomic<int> in_step_{0};
  std::atomic<int> max_concurrent_{0};
  std::thread completer_;
};

TEST(StreamWriterTest, EveryItemIsWrittenOnceOneWriteAtATime) {
  FakeStream stream;
  stream.StartCompleter();
  constexpr int kThreads = 4, kItems = 5000;
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&stream, t] {
      for (int i = 0; i < kItems; ++i) stream.Push(t * kItems + i);
    });
  }
  for (auto& p : producers) p.join();
  // Bounded wait for the last writes to drain.
  for (int i = 0; i < 100000 && !stream.idle(); ++i) std::this_thread::yield();
  std::vector<int> written = stream.written();
  ASSERT_EQ(written.size(), static_cast<size_t>(kThreads * kItems)) << "an item was left behind";
  std::vector<bool> seen(kThreads * kItems);
  for (int item : written) {
    ASSERT_FALSE(seen[item]) << "written twice: " << item;
    seen[item] = true;
  }
  EXPECT_EQ(stream.max_concurrent_steps(), 1) << "two writers at once";
  EXPECT_EQ(stream.write_started_ns(), 0u) << "no write is in flight any more";
}

// A stream whose one write never completes: the client stopped reading.
class StuckStream : public StreamWriter {
 protected:
  bool Step() override {
    if (started_) return false;
    started_ = true;
    MarkWriteStarted();
    return true;  // the write is out; WriteDone never comes
  }
  bool HasWork() const override { return false; }

 private:
  bool started_ = false;
};

TEST(StreamWriterTest, AWriteIsStalledOnlyOnceItHasWaitedLongEnough) {
  StuckStream stream;
  EXPECT_FALSE(stream.WriteStalled(MonotonicNs(), 1)) << "no write in flight";
  stream.Kick();
  const uint64_t started = stream.write_started_ns();
  ASSERT_NE(started, 0u);
  const uint64_t second = 1'000'000'000;
  // The stall sweep reads the clock, then looks at each stream: a write
  // that started in between is newer than the sweep's clock. It used to
  // wrap around to a huge wait and cut a healthy call (CANCELLED).
  EXPECT_FALSE(stream.WriteStalled(started - 1, second));
  EXPECT_FALSE(stream.WriteStalled(started + second - 1, second));
  EXPECT_TRUE(stream.WriteStalled(started + second, second));  // positive control
}

}  // namespace
}  // namespace overlapd
