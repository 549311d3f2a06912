// What the engine tests share: test data, files, and a sink that collects
// what an engine reports.
#ifndef OVERLAPD_IOENGINE_ENGINE_TEST_UTIL_H_
#define OVERLAPD_IOENGINE_ENGINE_TEST_UTIL_H_

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "ioengine/engine.h"

namespace overlapd::io {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    memcpy(&s[i], &v, 8);
  }
  for (size_t i = n - n % 8; i < n; ++i) s[i] = static_cast<char>(rng());
  return s;
}

inline std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void WriteAll(const fs::path& p, std::string_view data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// Collects what the engine reports. Thread-safe (the engine calls it from
// every worker); Wait blocks the test thread until `n` ops completed.
class Collector : public OpSink {
 public:
  struct Chunk {
    uint64_t offset;
    std::string data;
    uint32_t crc;
  };

  explicit Collector(bool release_credit = true) : release_(release_credit) {}

  void OnReadChunk(Op& op, uint64_t offset, std::string data,
                   uint32_t crc) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (release_) op.credit->Release(data.size());
    chunks_[&op].push_back({offset, std::move(data), crc});
    cv_.notify_all();
  }
  void OnComplete(Op& op) override {
    std::lock_guard<std::mutex> lock(mu_);
    order_.push_back(&op);
    ++completed_;
    cv_.notify_all();
  }

  bool Wait(size_t n, std::chrono::milliseconds timeout = 30s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return completed_ >= n; });
  }
  bool WaitChunks(Op* op, size_t n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return chunks_[op].size() >= n; });
  }
  std::vector<Chunk> chunks(Op* op) {
    std::lock_guard<std::mutex> lock(mu_);
    return chunks_[op];
  }
  size_t chunk_count(Op* op) {
    std::lock_guard<std::mutex> lock(mu_);
    return chunks_[op].size();
  }
  std::vector<Op*> order() {
    std::lock_guard<std::mutex> lock(mu_);
    return order_;
  }
  // The chunks of `op` put back in file order.
  std::string Assemble(Op* op) {
    auto cs = chunks(op);
    std::sort(cs.begin(), cs.end(),
              [](const Chunk& a, const Chunk& b) { return a.offset < b.offset; });
    std::string out;
    for (auto& c : cs) {
      EXPECT_EQ(c.offset, op->offset + out.size()) << "gap or overlap";
      out += c.data;
    }
    return out;
  }

 private:
  const bool release_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<Op*, std::vector<Chunk>> chunks_;
  std::vector<Op*> order_;
  size_t completed_ = 0;
};

}  // namespace overlapd::io

#endif  // OVERLAPD_IOENGINE_ENGINE_TEST_UTIL_H_
