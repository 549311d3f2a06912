// The buffer lane's load generator (tests/bench/lane.sh; not a test): one
// file read whole by one Read op into a shared buffer, beside the same work
// done by one thread read()ing it into a touched buffer and by the gRPC path
// (one Read op, chunks copied out of the events into a buffer), and
// WriteFrom of the buffer to a new file. Prints one JSON object per figure:
//   {"what": "...", "runs_s": [..], "median_s": x, "bytes": n}
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "clients/cpp/client.h"
#include "clients/cpp/shared_buffer.h"
#include "ioengine/crc32c.h"
#include "ioengine/mutex_mode.h"

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Report(const std::string& what, const std::vector<double>& runs, uint64_t bytes) {
  std::vector<double> sorted = runs;
  std::sort(sorted.begin(), sorted.end());
  std::printf("{\"what\": \"%s\", \"runs_s\": [", what.c_str());
  for (size_t i = 0; i < runs.size(); ++i) std::printf("%s%.4f", i ? ", " : "", runs[i]);
  std::printf("], \"median_s\": %.4f, \"bytes\": %llu}\n", sorted[sorted.size() / 2],
              static_cast<unsigned long long>(bytes));
  std::fflush(stdout);
}

// Times `fn` `runs` times; exits on the first failure.
std::vector<double> Time(int runs, const std::function<bool()>& fn) {
  std::vector<double> out;
  for (int i = 0; i < runs; ++i) {
    const double t0 = Now();
    if (!fn()) std::exit(1);
    out.push_back(Now() - t0);
  }
  return out;
}

// The memory's own ceiling, no kernel and no file: `threads` threads each
// copying their share of `src` into `dst` (what the lane's workers do, page
// cache to shared buffer), or, with `through` set, one thread copying all of
// `src` through a small buffer that stays in cache (what cat's read()s do).
void CopyInMemory(const char* src, char* dst, uint64_t size, unsigned threads, bool through) {
  if (through) {
    for (uint64_t at = 0; at < size; at += 128 << 10) {
      std::memcpy(dst, src + at, std::min<uint64_t>(128 << 10, size - at));
    }
    return;
  }
  std::vector<std::thread> pool;
  const uint64_t share = size / threads;
  for (unsigned t = 0; t < threads; ++t) {
    const uint64_t from = t * share, to = t + 1 == threads ? size : from + share;
    pool.emplace_back([=] { std::memcpy(dst + from, src + from, to - from); });
  }
  for (auto& th : pool) th.join();
}

bool Ok(const absl::Status& s) {
  if (!s.ok()) std::fprintf(stderr, "lane_bench: %s\n", s.ToString().c_str());
  return s.ok();
}

}  // namespace

int main(int argc, char** argv) {
  overlapd::SkipMutexDeadlockDetection();
  std::string server = "127.0.0.1:50051", remote, local, write_to;
  int runs = 3;
  bool huge = false;
  CLI::App app{"Buffer lane benchmark"};
  app.add_option("--server", server);
  app.add_option("--remote", remote, "The file, relative to the server's root")->required();
  app.add_option("--local", local, "The same file, by its local path")->required();
  app.add_option("--write-to", write_to, "Remote path WriteFrom writes (empty: skip)");
  app.add_option("--runs", runs);
  bool lane_only = false;
  app.add_flag("--huge-pages", huge, "MFD_HUGETLB buffer (figures named lane_*_huge)");
  app.add_flag("--lane-only", lane_only, "Only the lane's reads");
  CLI11_PARSE(app, argc, argv);

  struct stat sb;
  if (stat(local.c_str(), &sb) != 0) return 1;
  const auto size = static_cast<uint64_t>(sb.st_size);
  auto client = overlapd::Client::Connect(server).value();
  auto caps = client->Capabilities().value();

  // First touch: a fresh buffer, its pages faulted in by the server's copy.
  {
    auto fresh = overlapd::SharedBuffer::Create(size, {.huge_pages = huge}).value();
    if (!Ok(fresh->Register(caps.buffer_socket()))) return 1;
    Report(huge ? "lane_first_touch_huge" : "lane_first_touch", Time(1, [&] {
      return Ok(client->ReadInto(remote, *fresh, {.verify = false}).status());
    }), size);
  }
  auto buf = overlapd::SharedBuffer::Create(size, {.huge_pages = huge}).value();
  memset(buf->data(), 1, size);  // touched before the timed runs
  if (!Ok(buf->Register(caps.buffer_socket()))) return 1;
  if (!Ok(client->ReadInto(remote, *buf, {.verify = false}).status())) return 1;  // warm
  Report(huge ? "lane_read_huge" : "lane_read", Time(runs, [&] {
    return Ok(client->ReadInto(remote, *buf, {.verify = false}).status());
  }), size);
  if (lane_only) return 0;

  // The same work by one thread: read() into an already-touched buffer.
  std::vector<char> plain(size, 1);
  Report("one_thread_read", Time(runs, [&] {
    const int fd = open(local.c_str(), O_RDONLY | O_CLOEXEC);
    uint64_t done = 0;
    while (done < size) {
      const ssize_t n = read(fd, plain.data() + done, std::min<uint64_t>(size - done, 1u << 30));
      if (n <= 0) break;
      done += static_cast<uint64_t>(n);
    }
    close(fd);
    return done == size;
  }), size);

  // What memory alone allows: the lane's copy (all cores, big buffer to big
  // buffer) against cat's (one core, through a buffer that stays in cache).
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  Report("memcpy_all_cores", Time(runs, [&] {
    CopyInMemory(plain.data(), buf->data(), size, cores, false);
    return true;
  }), size);
  Report("memcpy_through_small", Time(runs, [&] {
    CopyInMemory(plain.data(), buf->data(), size, 1, true);
    return true;
  }), size);

  // The other work every chunk costs the server: its CRC32C, one thread.
  Report("crc32c_one_thread", Time(runs, [&] {
    uint32_t crc = 0;
    for (uint64_t at = 0; at < size; at += 1 << 20) {
      crc = overlapd::io::Crc32c(buf->data() + at, std::min<uint64_t>(1 << 20, size - at), crc);
    }
    return crc != 1;  // kept, not optimised away
  }), size);

  // The gRPC path: chunks arrive in events and are copied to their place.
  Report("grpc_read", Time(runs, [&] {
    overlapd::v1::Batch batch;
    batch.add_ops()->mutable_read()->set_path(remote);
    uint64_t got = 0;
    absl::Status s = client->Execute(batch, [&](const overlapd::v1::Event& e) {
      if (e.type() != overlapd::v1::READ_CHUNK) return;
      memcpy(plain.data() + e.offset(), e.data().data(), e.data().size());
      got += e.data().size();
    });
    return Ok(s) && got == size;
  }), size);

  if (!write_to.empty()) {
    overlapd::v1::Write mode;
    mode.set_mode(overlapd::v1::WRITE_MODE_TRUNCATE);
    // A new file each run, removed after it, as lane.sh times `cp && rm`:
    // truncating the last run's file would wait on its writeback.
    Report("lane_write_from", Time(runs, [&] {
      return Ok(client->WriteFrom(write_to, *buf, 0, size, mode).status()) &&
             Ok(client->Delete(write_to));
    }), size);
  }
  return 0;
}
