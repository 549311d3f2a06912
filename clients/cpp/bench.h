// `overlap bench`: a load generator for overlapd, in the CLI so that anyone
// can measure a server the way tests/bench/run.sh does.
//
//   overlap bench read --dir DIR [--batch 64] [--inflight 8] [--streams 2]
//                      [--duration 10] [--warmup 0] [--count N] [--json]
//   overlap bench read --path big.bin --batch 1 --inflight 1 --streams 1 --count 1
//   overlap bench write --dir DIR --file-size 1M --files 256 [--durable] [--json]
//
// read lists the regular files under DIR (recursively, with List ops) and
// reads whole files in random order. Each of --streams threads owns one
// channel (its own TCP connection) and one Session stream, and keeps
// --inflight batches of --batch Read ops in flight: a new batch goes out as
// soon as one completes (BATCH_COMPLETE). write writes --files files of
// --file-size bytes named DIR/bench-NNNNNN, one Write op each.
//
// Measured: an op counts when it completes inside the window [start +
// warmup, start + warmup + duration]; rates divide by the window (which ends
// at the last completion when --count or --files runs out first). Latency of
// an op: from the moment its batch was handed to gRPC to the arrival of the
// op's READ_COMPLETE / WRITE_COMPLETE. MB is 10^6 bytes. The run is bounded:
// no batch is sent after the window, and the stream is cut at the window end
// plus 60 s of drain.
//
// Output: a few lines of text, or with --json one object: command, ops,
// ops_total (with warm-up and drain), bytes, errors, seconds, ops_per_s, mb_per_s, p50_us, p90_us, p99_us,
// p999_us, max_us, streams, batch, inflight, files, client_cpu_s,
// first_error. Exit status 1 when any op failed.
//
// Internal to clients/cpp; not a stable API.
#ifndef OVERLAPD_CLIENTS_CPP_BENCH_H_
#define OVERLAPD_CLIENTS_CPP_BENCH_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "clients/cpp/cli_common.h"
#include "clients/cpp/client.h"

namespace CLI {
class App;
}  // namespace CLI

namespace overlapd {
namespace cli {

// The flags of `overlap bench read` and `overlap bench write`.
struct BenchOptions {
  std::string dir;
  std::vector<std::string> paths;  // read: these files instead of listing
  uint32_t batch = 0;              // 0: 64 for read, 16 for write
  uint32_t inflight = 0;           // 0: 8 for read, 4 for write
  uint32_t streams = 2;
  double duration_s = 10;
  double warmup_s = 0;
  uint64_t count = 0;     // read: stop after this many ops (0: duration only)
  uint64_t max_files = 1'000'000;  // read: listing bound
  bool verify = false;    // read: check every chunk's CRC32C
  uint64_t seed = 1;
  uint64_t file_size = 0; // write
  uint64_t files = 0;     // write
  bool durable = false;   // write
  bool json = false;
};

// The figures of one run.
struct BenchResult {
  uint64_t ops = 0;    // completed inside the window
  uint64_t bytes = 0;  // of those ops
  uint64_t ops_total = 0;  // completed at all (warm-up and drain too)
  uint64_t errors = 0;
  double seconds = 0;
  // Latency quantiles in microseconds.
  double p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
  double client_cpu_s = 0;
  bool lane = false;  // read into shared buffers (the buffer lane), not over gRPC
  std::string first_error;

  double ops_per_s() const { return seconds > 0 ? ops / seconds : 0; }
  double mb_per_s() const { return seconds > 0 ? bytes / seconds / 1e6 : 0; }
};

// Fills the quantiles of `result` from latencies in nanoseconds (reordered).
void SetLatencyQuantiles(std::vector<uint64_t>& latencies_ns, BenchResult* result);

// The --json object of a run.
nlohmann::json BenchResultJson(const std::string& command, const BenchOptions& options,
                               uint64_t files, const BenchResult& result);

// Adds `bench read` and `bench write` to `app` (in the constructor) and runs
// the one the user chose (Run, after app.parse). Not copyable or movable:
// CLI11 writes the parsed flags into its members.
class BenchCommands final : public CommandGroup {
 public:
  BenchCommands(CLI::App& app, const GlobalOptions& global);
  BenchCommands(const BenchCommands&) = delete;
  BenchCommands& operator=(const BenchCommands&) = delete;

  // The status of the bench command that was parsed, or nullopt when the
  // command line named none of them. `client` lists files and reads the
  // server's limits; the load runs on channels of its own to
  // GlobalOptions::server.
  std::optional<absl::Status> Run(Client& client) override;

 private:
  absl::Status RunRead(Client& client);
  absl::Status RunWrite(Client& client);
  absl::Status Report(const std::string& command, uint64_t files,
                      const BenchResult& result);

  const GlobalOptions& global_;
  CLI::App* read_ = nullptr;
  CLI::App* write_ = nullptr;
  BenchOptions read_opt_;
  BenchOptions write_opt_;
};

}  // namespace cli
}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_BENCH_H_
