// overlapd_list_bench: pages through one directory with List ops on the
// engine (no gRPC), one page at a time as a client pages, and prints how
// long each page took. tests/bench/list_paging.sh runs it on a 200,000
// entry directory against this engine and the one before the listing cache.
//
// It uses only the Op fields that List has always had, so the same source
// builds against older engines.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "ioengine/engine.h"
#include "ioengine/mutex_mode.h"

namespace overlapd::io {
namespace {

class WaitSink : public OpSink {
 public:
  void OnReadChunk(Op&, uint64_t, std::string, uint32_t) override {}
  void OnComplete(Op&) override {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_; });
    done_ = false;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

int Run(const std::string& root, const std::string& dir, uint32_t limit, int max_pages,
        int workers) {
  EngineOptions opts;
  opts.root_fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (opts.root_fd < 0) {
    std::perror(root.c_str());
    return 1;
  }
  opts.workers = workers;
  auto engine = CreateEngine(EngineKind::kAuto, opts);
  if (!engine.ok()) {
    std::fprintf(stderr, "engine: %s\n", engine.status().ToString().c_str());
    return 1;
  }
  WaitSink sink;
  std::vector<double> page_ms;
  uint64_t entries = 0;
  std::string cursor;
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  for (bool more = true; more && (max_pages == 0 || static_cast<int>(page_ms.size()) < max_pages);) {
    Op op;
    op.type = OpType::kList;
    op.path = dir;
    op.start_after = cursor;
    op.limit = limit;
    op.sink = &sink;
    const auto start = Clock::now();
    (*engine)->Submit(&op);
    sink.Wait();
    page_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    if (op.result != 0) {
      std::fprintf(stderr, "List %s after '%s': errno %d\n", dir.c_str(), cursor.c_str(),
                   -op.result);
      return 1;
    }
    entries += op.entries.size();
    if (!op.entries.empty()) cursor = op.entries.back().name;
    more = op.more_entries;
  }
  const double total = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  std::vector<double> rest(page_ms.begin() + (page_ms.empty() ? 0 : 1), page_ms.end());
  std::printf("{\"limit\": %u, \"pages\": %zu, \"entries\": %llu, \"total_ms\": %.3f, "
              "\"first_page_ms\": %.3f, \"median_page_ms\": %.4f, \"p99_page_ms\": %.4f}\n",
              limit, page_ms.size(), static_cast<unsigned long long>(entries), total,
              page_ms.empty() ? 0.0 : page_ms[0], Percentile(rest, 0.5), Percentile(rest, 0.99));
  engine->reset();
  close(opts.root_fd);
  return 0;
}

}  // namespace
}  // namespace overlapd::io

int main(int argc, char** argv) {
  overlapd::SkipMutexDeadlockDetection();
  CLI::App app{"Pages through a directory with engine List ops and times each page"};
  std::string root, dir;
  uint32_t limit = 1000;
  int pages = 0;
  int workers = 2;
  app.add_option("--root", root, "Directory the engine serves")->required();
  app.add_option("--dir", dir, "Directory to list, relative to --root")->required();
  app.add_option("--limit", limit, "Entries per page")->capture_default_str();
  app.add_option("--pages", pages, "Stop after this many pages (0: the whole directory)")
      ->capture_default_str();
  app.add_option("--workers", workers, "Engine workers")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return overlapd::io::Run(root, dir, limit, pages, workers);
}
