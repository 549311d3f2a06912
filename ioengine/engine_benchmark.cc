// overlapd_engine_bench: drives the IO engine directly (no gRPC, no
// protobuf) so that its numbers can be set beside fio's on the same file with
// the same parameters. tests/bench/run.sh runs both side by side; this binary
// only measures and prints one JSON object on stdout.
//
//   overlapd_engine_bench --workload randread --file /data/f --bs 4k --qd 32
//   overlapd_engine_bench --workload seqread --file /data/f --bs 1M --qd 8 --cold
//   overlapd_engine_bench --workload write --file /data/w --bs 1M --qd 1 --sync data
//   overlapd_engine_bench --workload oneread --file /data/big  (one Read op)
//
// How it drives the engine: `qd` ops are kept in flight. Each op is owned by
// a slot here; when the engine completes it (OpSink::OnComplete, on a worker
// thread) the slot records the latency and resubmits itself at once with a
// new offset, the way fio's io_uring engine refills its ring. The engine
// promises not to touch an op after OnComplete, so resubmitting from inside
// the callback is allowed, and it keeps the refill on the worker (no hop
// through another thread, which fio does not pay either).
//
// Measurement: an op counts when it completes inside the window
// [start + warmup, deadline]; rates divide by the window, which ends early at
// the last completion when a byte or op bound stops the run first (a cold
// single pass, a bounded write). Latency is the engine's own
// queued_ns + service_ns: from Submit to completion.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "ioengine/engine.h"
#include "ioengine/mutex_mode.h"

namespace overlapd::io {
namespace {

uint64_t MonoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<uint64_t>(ts.tv_nsec);
}

// A log-linear latency histogram (32 sub-buckets per power of two: about 3%
// resolution), one per completing thread so that the hot path writes only
// its own cache lines. Merged once every op has completed.
class Histogram {
 public:
  static constexpr int kSubBits = 5;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = 2 * kSub + 48 * kSub;

  void Record(uint64_t ns) {
    ++counts_[Index(ns)];
    ++total_;
  }
  void Merge(const Histogram& other) {
    for (int i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
  }
  uint64_t total() const { return total_; }

  // The value below which a fraction `q` of the samples lie, in ns (the
  // middle of its bucket); 0 when empty.
  uint64_t Quantile(double q) const {
    if (total_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(total_));
    if (rank >= total_) rank = total_ - 1;
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > rank) return Middle(i);
    }
    return Middle(kBuckets - 1);
  }

 private:
  // Values below 2*kSub have their own bucket; above, the top kSubBits+1
  // bits choose the bucket.
  static int Index(uint64_t v) {
    if (v < 2 * kSub) return static_cast<int>(v);
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - kSubBits;
    int index = (shift + 1) * kSub + static_cast<int>((v >> shift) - kSub);
    return std::min(index, kBuckets - 1);
  }
  static uint64_t Middle(int index) {
    if (index < 2 * kSub) return static_cast<uint64_t>(index);
    int shift = index / kSub - 1;
    uint64_t low = (static_cast<uint64_t>(index % kSub) + kSub) << shift;
    return low + ((1ull << shift) >> 1);
  }

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
};

enum class Workload { kRandRead, kSeqRead, kWrite, kOneRead };

struct Config {
  std::string workload = "randread";
  std::string file;
  std::string engine = "uring";
  uint64_t bs = 4096;
  uint32_t qd = 32;
  int workers = 0;
  double duration_s = 10;
  double warmup_s = 0;
  // Bytes to read or write before stopping (0: until the duration ends).
  // seqread --cold reads the file once.
  uint64_t size = 0;
  bool direct = false;
  bool cold = false;
  bool deliver = false;
  std::string sync = "none";
  uint64_t chunk_bytes = 1 << 20;
  uint32_t engine_queue_depth = 256;
  uint64_t seed = 1;
};

// Per-thread results: only the owning thread writes them, the main thread
// reads them after every op has completed.
struct ThreadStats {
  Histogram latency;
  uint64_t ops = 0;
  uint64_t bytes = 0;
  uint64_t errors = 0;
  int first_error = 0;
  uint64_t rng = 0;
};

class Bench;

// One op kept in flight.
struct Slot {
  Op op;
  Bench* bench = nullptr;
};

class Bench final : public OpSink {
 public:
  Bench(const Config& config, Workload workload, Engine* engine, uint64_t file_size)
      : config_(config),
        workload_(workload),
        engine_(engine),
        file_size_(file_size),
        credit_(std::max<uint64_t>(config.bs, 1) * config.qd * 2 + (64u << 20)) {}

  // Runs the workload and returns the merged stats and the window in ns.
  void Run() {
    std::string path = config_.file.substr(config_.file.find_last_of('/') + 1);
    std::string content;
    if (workload_ == Workload::kWrite) {
      content.resize(config_.bs);
      std::mt19937_64 gen(config_.seed);
      for (size_t i = 0; i + 8 <= content.size(); i += 8) {
        uint64_t v = gen();
        std::memcpy(&content[i], &v, 8);
      }
    }
    const uint32_t slots = workload_ == Workload::kOneRead ? 1 : config_.qd;
    slots_.resize(slots);
    for (uint32_t i = 0; i < slots; ++i) {
      auto slot = std::make_unique<Slot>();
      slot->bench = this;
      Op& op = slot->op;
      op.path = path;
      op.sink = this;
      op.credit = &credit_;
      op.deliver_data = config_.deliver;
      op.direct = config_.direct;
      op.user = slot.get();
      switch (workload_) {
        case Workload::kRandRead:
        case Workload::kSeqRead:
          op.type = OpType::kRead;
          op.length = config_.bs;
          break;
        case Workload::kOneRead:
          op.type = OpType::kRead;
          op.length = 0;  // the whole file, in one op
          break;
        case Workload::kWrite:
          op.type = OpType::kWrite;
          op.mode = WriteMode::kAt;
          op.data = content;
          op.durability = config_.sync == "data"   ? Durability::kData
                          : config_.sync == "full" ? Durability::kFull
                                                   : Durability::kNone;
          break;
      }
      slots_[i] = std::move(slot);
    }
    start_ns_ = MonoNs();
    window_start_ns_ = start_ns_ + static_cast<uint64_t>(config_.warmup_s * 1e9);
    // One op of a whole file is measured however long it takes.
    deadline_ns_.store(workload_ == Workload::kOneRead
                           ? UINT64_MAX / 2
                           : window_start_ns_ + static_cast<uint64_t>(config_.duration_s * 1e9));
    live_.store(slots);
    ThreadStats& mine = Stats();
    for (auto& slot : slots_) {
      if (!Prepare(slot->op, mine)) {
        Retire();
        continue;
      }
      engine_->Submit(&slot->op);
    }
    // Completions stop resubmitting at the deadline and the last one wakes
    // us. The timed wait only bounds how late we notice; this thread must
    // not spin (it would take a core from the workers).
    std::unique_lock<std::mutex> lock(mu_);
    while (live_.load() != 0) {
      done_cv_.wait_for(lock, std::chrono::milliseconds(100));
    }
  }

  // Prints the result object.
  void Report(const std::string& engine_name, int workers, bool direct_used) {
    Histogram latency;
    uint64_t ops = 0, bytes = 0, errors = 0;
    int first_error = 0;
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      for (auto& s : stats_) {
        latency.Merge(s->latency);
        ops += s->ops;
        bytes += s->bytes;
        errors += s->errors;
        if (first_error == 0) first_error = s->first_error;
      }
    }
    uint64_t end = std::min(deadline_ns_.load(), last_complete_ns_.load());
    double seconds = end > window_start_ns_ ? (end - window_start_ns_) / 1e9 : 0;
    rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                   ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    auto us = [&](double q) { return latency.Quantile(q) / 1000.0; };
    std::printf(
        "{\"tool\": \"overlapd_engine_bench\", \"workload\": \"%s\", "
        "\"engine\": \"%s\", \"workers\": %d, \"qd\": %u, \"bs\": %llu, "
        "\"direct\": %s, \"cold\": %s, \"sync\": \"%s\", \"deliver\": %s, "
        "\"ops\": %llu, \"bytes\": %llu, \"seconds\": %.6f, "
        "\"iops\": %.1f, \"mb_per_s\": %.2f, "
        "\"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
        "\"p999_us\": %.1f, \"errors\": %llu, \"first_error\": \"%s\", "
        "\"cpu_s\": %.3f}\n",
        config_.workload.c_str(), engine_name.c_str(), workers,
        workload_ == Workload::kOneRead ? 1 : config_.qd,
        static_cast<unsigned long long>(config_.bs), direct_used ? "true" : "false",
        config_.cold ? "true" : "false", config_.sync.c_str(),
        config_.deliver ? "true" : "false", static_cast<unsigned long long>(ops),
        static_cast<unsigned long long>(bytes), seconds,
        seconds > 0 ? ops / seconds : 0.0, seconds > 0 ? bytes / seconds / 1e6 : 0.0,
        us(0.50), us(0.90), us(0.99), us(0.999),
        static_cast<unsigned long long>(errors),
        first_error == 0 ? "" : std::strerror(-first_error), cpu_s);
    std::fflush(stdout);
  }

  // Engine worker threads. Records the op, then refills its slot unless the
  // run is over.
  void OnReadChunk(Op& op, uint64_t offset, std::string data,
                   uint32_t crc32c) override {
    // --deliver: the data reaches us the way it reaches the service (moved
    // into the sink) and is dropped here; its credit comes back at once.
    op.credit->Release(data.size());
  }

  void OnComplete(Op& op) override {
    uint64_t now = MonoNs();
    ThreadStats& stats = Stats();
    if (now >= window_start_ns_ && now <= deadline_ns_.load(std::memory_order_relaxed)) {
      stats.latency.Record(op.queued_ns + op.service_ns);
      ++stats.ops;
      stats.bytes += op.bytes;
      uint64_t last = last_complete_ns_.load(std::memory_order_relaxed);
      while (now > last && !last_complete_ns_.compare_exchange_weak(last, now)) {
      }
    }
    if (op.result != 0) {
      ++stats.errors;
      if (stats.first_error == 0) stats.first_error = op.result;
      // A failing workload would spin: stop it.
      deadline_ns_.store(0);
    }
    if (now < deadline_ns_.load(std::memory_order_relaxed) && Prepare(op, stats)) {
      engine_->Submit(&op);
      return;
    }
    Retire();
  }

 private:
  ThreadStats& Stats() {
    thread_local ThreadStats* mine = nullptr;
    thread_local Bench* owner = nullptr;
    if (mine == nullptr || owner != this) {
      auto s = std::make_unique<ThreadStats>();
      s->rng = config_.seed * 0x9E3779B97F4A7C15ull +
               std::hash<std::thread::id>()(std::this_thread::get_id()) + 1;
      std::lock_guard<std::mutex> lock(stats_mu_);
      mine = s.get();
      owner = this;
      stats_.push_back(std::move(s));
    }
    return *mine;
  }

  static uint64_t NextRandom(ThreadStats& s) {
    // xorshift64*: cheap and good enough to spread offsets.
    s.rng ^= s.rng >> 12;
    s.rng ^= s.rng << 25;
    s.rng ^= s.rng >> 27;
    return s.rng * 0x2545F4914F6CDD1Dull;
  }

  // Sets the next offset of `op`; false when the workload has no more work
  // for it (a bounded size is reached).
  bool Prepare(Op& op, ThreadStats& stats) {
    switch (workload_) {
      case Workload::kRandRead: {
        uint64_t blocks = std::max<uint64_t>(file_size_ / config_.bs, 1);
        op.offset = (NextRandom(stats) % blocks) * config_.bs;
        if (config_.size != 0 &&
            issued_.fetch_add(config_.bs, std::memory_order_relaxed) >= config_.size) {
          return false;
        }
        return true;
      }
      case Workload::kSeqRead:
      case Workload::kWrite: {
        uint64_t at = issued_.fetch_add(config_.bs, std::memory_order_relaxed);
        if (config_.size != 0 && at >= config_.size) return false;
        // Time-bound runs wrap around the file (or the write area).
        uint64_t span = workload_ == Workload::kWrite
                            ? std::max<uint64_t>(config_.size == 0 ? file_size_ : config_.size,
                                                 config_.bs)
                            : std::max<uint64_t>(file_size_, config_.bs);
        span -= span % config_.bs;
        op.offset = at % span;
        return true;
      }
      case Workload::kOneRead:
        if (issued_.fetch_add(1) != 0) return false;
        op.offset = 0;
        return true;
    }
    return false;
  }

  void Retire() {
    if (live_.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      done_cv_.notify_all();
    }
  }

  const Config& config_;
  const Workload workload_;
  Engine* const engine_;
  const uint64_t file_size_;
  ReadCredit credit_;
  std::vector<std::unique_ptr<Slot>> slots_;

  uint64_t start_ns_ = 0;
  uint64_t window_start_ns_ = 0;
  std::atomic<uint64_t> deadline_ns_{0};
  std::atomic<uint64_t> last_complete_ns_{0};
  std::atomic<uint64_t> issued_{0};
  std::atomic<uint32_t> live_{0};

  std::mutex mu_;
  std::condition_variable done_cv_;
  std::mutex stats_mu_;
  std::vector<std::unique_ptr<ThreadStats>> stats_;
};

// Drops the page cache of one file, the way fio invalidates its files
// (POSIX_FADV_DONTNEED): no privilege needed, and nothing else on a shared
// machine loses its cache. Dirty pages are written first so they can go.
bool DropFileCache(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  fdatasync(fd);
  bool ok = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0;
  close(fd);
  return ok;
}

int Main(int argc, char** argv) {
  Config config;
  CLI::App app{
      "overlapd_engine_bench: drive the overlapd IO engine directly and print\n"
      "IOPS, MB/s and latency percentiles as one JSON object."};
  app.add_option("--workload", config.workload,
                 "randread | seqread | write | oneread (one Read op of the whole file)")
      ->check(CLI::IsMember({"randread", "seqread", "write", "oneread"}))
      ->capture_default_str();
  app.add_option("--file", config.file, "File to read or write (its directory is the engine root)")
      ->required();
  app.add_option("--engine", config.engine, "uring | threads | auto")
      ->check(CLI::IsMember({"uring", "threads", "auto"}))
      ->capture_default_str();
  app.add_option("--bs", config.bs, "Bytes per op")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--qd", config.qd, "Ops in flight")->check(CLI::Range(1, 65536))
      ->capture_default_str();
  app.add_option("--workers", config.workers, "Engine workers (0: one per core)")
      ->capture_default_str();
  app.add_option("--duration", config.duration_s, "Seconds measured")->capture_default_str();
  app.add_option("--warmup", config.warmup_s, "Seconds run before measuring")
      ->capture_default_str();
  app.add_option("--size", config.size,
                 "Bytes to transfer before stopping (0: until --duration); write: "
                 "also the span written")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_flag("--direct", config.direct, "Reads with O_DIRECT (Op::direct)");
  app.add_flag("--cold", config.cold,
               "Drop the file's page cache first (POSIX_FADV_DONTNEED); seqread "
               "then reads the file once");
  app.add_flag("--deliver", config.deliver,
               "Hand read data to the sink as the service does (default: checksum "
               "and count only)");
  app.add_option("--sync", config.sync, "write durability: none | data (fdatasync) | full")
      ->check(CLI::IsMember({"none", "data", "full"}))
      ->capture_default_str();
  app.add_option("--chunk-bytes", config.chunk_bytes, "Engine chunk size")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--engine-queue-depth", config.engine_queue_depth,
                 "Engine IOs in flight per worker")
      ->capture_default_str();
  app.add_option("--seed", config.seed, "Random seed")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  Workload workload = config.workload == "randread"  ? Workload::kRandRead
                      : config.workload == "seqread" ? Workload::kSeqRead
                      : config.workload == "write"   ? Workload::kWrite
                                                     : Workload::kOneRead;
  if (config.bs == 0) {
    std::fprintf(stderr, "overlapd_engine_bench: --bs must be > 0\n");
    return 2;
  }
  std::string dir = ".";
  size_t slash = config.file.find_last_of('/');
  if (slash != std::string::npos) dir = slash == 0 ? "/" : config.file.substr(0, slash);

  struct stat sb;
  uint64_t file_size = 0;
  if (stat(config.file.c_str(), &sb) == 0) {
    file_size = static_cast<uint64_t>(sb.st_size);
  } else if (workload != Workload::kWrite) {
    std::fprintf(stderr, "overlapd_engine_bench: %s: %s\n", config.file.c_str(),
                 std::strerror(errno));
    return 1;
  }
  if (workload != Workload::kWrite && file_size < config.bs && workload != Workload::kOneRead) {
    std::fprintf(stderr, "overlapd_engine_bench: %s is smaller than --bs\n",
                 config.file.c_str());
    return 1;
  }
  if (workload == Workload::kWrite && config.size == 0 && file_size < config.bs) {
    std::fprintf(stderr,
                 "overlapd_engine_bench: write needs --size or an existing file "
                 "of at least --bs bytes to write over\n");
    return 2;
  }
  if (config.cold) {
    if (!DropFileCache(config.file)) {
      std::fprintf(stderr, "overlapd_engine_bench: cannot drop the cache of %s\n",
                   config.file.c_str());
      return 1;
    }
    // One pass: a second lap would read what the first brought in.
    if (workload == Workload::kSeqRead && config.size == 0) config.size = file_size;
  }

  int root_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) {
    std::fprintf(stderr, "overlapd_engine_bench: %s: %s\n", dir.c_str(), std::strerror(errno));
    return 1;
  }
  EngineOptions options;
  options.root_fd = root_fd;
  options.workers = config.workers;
  options.chunk_bytes = config.chunk_bytes;
  options.queue_depth = config.engine_queue_depth;
  // The engine's O_DIRECT is per read op, at offsets that are multiples of
  // kDirectAlign.
  const bool direct_used = config.direct;
  if (config.direct && (workload == Workload::kWrite || config.bs % kDirectAlign != 0)) {
    std::fprintf(stderr,
                 "overlapd_engine_bench: --direct applies to reads with --bs a "
                 "multiple of %llu\n",
                 static_cast<unsigned long long>(kDirectAlign));
    return 2;
  }
  EngineKind kind = config.engine == "uring"     ? EngineKind::kUring
                    : config.engine == "threads" ? EngineKind::kThreads
                                                 : EngineKind::kAuto;
  absl::StatusOr<std::unique_ptr<Engine>> engine = CreateEngine(kind, options);
  if (!engine.ok()) {
    std::fprintf(stderr, "overlapd_engine_bench: engine: %s\n",
                 std::string(engine.status().message()).c_str());
    return 1;
  }
  {
    Bench bench(config, workload, engine->get(), file_size);
    bench.Run();
    bench.Report(std::string((*engine)->name()), (*engine)->workers(), direct_used);
    engine->reset();  // waits for every op; the bench's sink must outlive it
  }
  close(root_fd);
  return 0;
}

}  // namespace
}  // namespace overlapd::io

int main(int argc, char** argv) {
  overlapd::SkipMutexDeadlockDetection();
  return overlapd::io::Main(argc, argv);
}
