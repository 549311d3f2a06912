#include "clients/cpp/bench_lane.h"
#include "clients/cpp/bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <grpc/grpc.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "clients/cpp/client_internal.h"
#include "ioengine/status_macros.h"

namespace overlapd {
namespace cli {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             Clock::now().time_since_epoch())
      .count();
}

double CpuSeconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

// Op tags carry their batch's sequence number above this many bits, so that
// an op's completion finds the time its batch was sent.
constexpr int kOpIndexBits = 20;
// How long streams may take to finish the batches in flight after the
// window: a bound, not an expected time.
constexpr int64_t kDrainNs = 60'000'000'000;

// What one stream thread measured.
struct StreamResult {
  std::vector<uint64_t> latencies_ns;
  uint64_t ops = 0;
  uint64_t bytes = 0;
  uint64_t ops_total = 0;  // also outside the window
  uint64_t errors = 0;
  int64_t last_complete_ns = 0;
  std::string first_error;

  void Error(std::string message) {
    ++errors;
    if (first_error.empty()) first_error = std::move(message);
  }
};

// Adds up to `max_ops` ops to `batch`, tagged with `tag_base | index`;
// returns how many it added (0: this stream has no more work).
using FillFn = std::function<uint32_t(v1::Batch& batch, uint64_t tag_base, uint32_t max_ops)>;

// The window shared by the streams of one run.
struct Window {
  int64_t start_ns = 0;  // counting starts (after the warm-up)
  int64_t end_ns = 0;    // no batch is sent after this
};

absl::StatusOr<std::shared_ptr<grpc::Channel>> StreamChannel(const GlobalOptions& global,
                                                              int index) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  // A connection per stream, as separate clients would have: channels with
  // equal arguments would otherwise share one subchannel (one TCP
  // connection, one HTTP/2 flow-control window).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("overlap.bench_stream", index);
  return CreateChannel(global.server, global.connect, args);
}

// One stream: keeps `inflight` batches of at most `batch` ops in flight on a
// Session until `fill` runs dry or the window ends, then drains. Runs on its
// own thread; touches nothing shared but its result.
void RunStream(const GlobalOptions& global, int index, uint32_t batch, uint32_t inflight,
               const Window& window, bool verify, const FillFn& fill, BenchLane* lane,
               StreamResult* out) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = StreamChannel(global, index);
  if (!channel.ok()) {
    out->Error(absl::StrCat("stream ", index, ": ", channel.status().ToString()));
    return;
  }
  auto stub = v1::IoService::NewStub(*channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::nanoseconds(window.end_ns - NowNs() + kDrainNs));
  std::unique_ptr<grpc::ClientReaderWriter<v1::Batch, v1::EventBatch>> stream =
      stub->Session(&context);

  struct Sent {
    int64_t at_ns;
    uint32_t ops;
  };
  std::unordered_map<uint64_t, Sent> sent;  // by batch sequence number
  uint64_t next_seq = 1;
  uint32_t outstanding = 0;
  bool exhausted = false;
  bool broken = false;
  v1::Batch request;

  auto send_one = [&]() {
    if (exhausted || broken || NowNs() >= window.end_ns) return;
    request.Clear();
    const uint64_t seq = next_seq;
    request.set_tag(seq);
    uint32_t n = fill(request, seq << kOpIndexBits, batch);
    if (n == 0) {
      exhausted = true;
      return;
    }
    if (lane != nullptr) lane->Assign(index, seq, request);
    sent[seq] = {NowNs(), n};
    if (!stream->Write(request)) {
      broken = true;  // Finish below says why
      sent.erase(seq);
      return;
    }
    ++next_seq;
    ++outstanding;
  };

  for (uint32_t i = 0; i < inflight; ++i) send_one();
  v1::EventBatch message;
  while (outstanding > 0 && stream->Read(&message)) {
    const int64_t now = NowNs();
    const bool counted = now >= window.start_ns && now <= window.end_ns;
    for (const v1::Event& event : message.events()) {
      switch (event.type()) {
        case v1::READ_CHUNK:
          if (verify && internal::Crc32c(lane != nullptr ? lane->Chunk(index, event)
                                                         : absl::string_view(event.data())) !=
                            event.crc32c()) {
            out->Error(absl::StrCat(event.path(), ": CRC32C mismatch at offset ",
                                    event.offset()));
          }
          break;
        case v1::READ_COMPLETE:
        case v1::WRITE_COMPLETE: {
          ++out->ops_total;
          if (!counted) break;
          auto it = sent.find(event.tag() >> kOpIndexBits);
          if (it != sent.end()) out->latencies_ns.push_back(now - it->second.at_ns);
          ++out->ops;
          out->bytes += event.bytes();
          out->last_complete_ns = now;
          break;
        }
        case v1::OP_FAILED:
        case v1::OP_CANCELLED:
          out->Error(internal::EventStatus(event).ToString());
          break;
        case v1::BATCH_COMPLETE: {
          auto it = sent.find(event.tag());
          if (event.has_error() && event.error().code() != 0) {
            // A refused batch ran none of its ops.
            uint32_t ops = it != sent.end() ? it->second.ops : 1;
            for (uint32_t i = 0; i < ops; ++i) {
              out->Error(absl::StrCat("batch refused: ", event.error().message()));
            }
          }
          if (it != sent.end()) sent.erase(it);
          if (lane != nullptr) lane->Release(index, event.tag());
          --outstanding;
          send_one();
          break;
        }
        default:
          break;
      }
    }
  }
  stream->WritesDone();
  grpc::Status status = stream->Finish();
  if (!status.ok()) {
    out->Error(absl::StrCat("stream ", index, ": ",
                            internal::FromGrpcStatus(status).ToString()));
  }
}

// Runs `streams` threads of RunStream and merges what they measured.
BenchResult RunLoad(const GlobalOptions& global, const BenchOptions& opt,
                    uint32_t batch, uint32_t inflight,
                    const std::vector<FillFn>& fills, BenchLane* lane = nullptr) {
  const double cpu_before = CpuSeconds();
  Window window;
  window.start_ns = NowNs() + static_cast<int64_t>(opt.warmup_s * 1e9);
  window.end_ns = window.start_ns + static_cast<int64_t>(opt.duration_s * 1e9);
  std::vector<StreamResult> results(fills.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < fills.size(); ++i) {
    threads.emplace_back(RunStream, std::cref(global), static_cast<int>(i), batch,
                         inflight, std::cref(window), opt.verify, std::cref(fills[i]), lane,
                         &results[i]);
  }
  for (std::thread& t : threads) t.join();

  BenchResult result;
  std::vector<uint64_t> latencies;
  int64_t last = 0;
  for (StreamResult& r : results) {
    result.ops += r.ops;
    result.bytes += r.bytes;
    result.ops_total += r.ops_total;
    result.errors += r.errors;
    if (result.first_error.empty()) result.first_error = r.first_error;
    last = std::max(last, r.last_complete_ns);
    latencies.insert(latencies.end(), r.latencies_ns.begin(), r.latencies_ns.end());
  }
  const int64_t end = std::min(window.end_ns, last);
  result.seconds = end > window.start_ns ? (end - window.start_ns) / 1e9 : 0;
  SetLatencyQuantiles(latencies, &result);
  result.client_cpu_s = CpuSeconds() - cpu_before;
  return result;
}

// Appends the regular files under `dir` (recursively) to `files`.
absl::Status ListFiles(Client& client, const std::string& dir, int depth,
                       uint64_t max_files, std::vector<std::string>* files) {
  if (depth > 64) return absl::FailedPreconditionError(dir + ": directories nested too deep");
  OVERLAPD_ASSIGN_OR_RETURN(std::vector<v1::FileInfo> entries, client.List(dir));
  const std::string prefix = dir.empty() || dir == "." ? "" : dir + "/";
  for (const v1::FileInfo& entry : entries) {
    if (files->size() >= max_files) break;
    std::string path = prefix + entry.name();
    if (entry.type() == v1::FILE_TYPE_DIRECTORY) {
      OVERLAPD_RETURN_IF_ERROR(ListFiles(client, path, depth + 1, max_files, files));
    } else if (entry.type() == v1::FILE_TYPE_REGULAR) {
      files->push_back(std::move(path));
    }
  }
  return absl::OkStatus();
}

}  // namespace

void SetLatencyQuantiles(std::vector<uint64_t>& latencies_ns, BenchResult* result) {
  if (latencies_ns.empty()) return;
  std::sort(latencies_ns.begin(), latencies_ns.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(q * static_cast<double>(latencies_ns.size()));
    return latencies_ns[std::min(i, latencies_ns.size() - 1)] / 1000.0;
  };
  result->p50_us = at(0.50);
  result->p90_us = at(0.90);
  result->p99_us = at(0.99);
  result->p999_us = at(0.999);
  result->max_us = latencies_ns.back() / 1000.0;
}

json BenchResultJson(const std::string& command, const BenchOptions& options,
                     uint64_t files, const BenchResult& r) {
  return {{"command", command},
          {"ops", r.ops},
          {"ops_total", r.ops_total},
          {"bytes", r.bytes},
          {"errors", r.errors},
          {"seconds", r.seconds},
          {"ops_per_s", r.ops_per_s()},
          {"mb_per_s", r.mb_per_s()},
          {"p50_us", r.p50_us},
          {"p90_us", r.p90_us},
          {"p99_us", r.p99_us},
          {"p999_us", r.p999_us},
          {"max_us", r.max_us},
          {"streams", options.streams},
          {"batch", options.batch},
          {"inflight", options.inflight},
          {"files", files},
          {"client_cpu_s", r.client_cpu_s},
          {"lane", r.lane},
          {"first_error", r.first_error}};
}

namespace {

// The options every load generator takes: how many ops per batch, batches
// in flight, streams, for how long, and --json.
void AddLoadOptions(CLI::App* cmd, BenchOptions& opt, const std::string& batch_help,
                    const std::string& duration_help) {
  cmd->add_option("--batch", opt.batch, batch_help)
      ->check(CLI::Range(1, 1 << 16))
      ->capture_default_str();
  cmd->add_option("--inflight", opt.inflight, "Batches in flight per stream")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->add_option("--streams", opt.streams,
                  "Session streams, each on its own thread and connection")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--duration", opt.duration_s, duration_help)
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  cmd->add_flag("--json", opt.json, "Print one JSON object");
}

}  // namespace

BenchCommands::BenchCommands(CLI::App& app, const GlobalOptions& global)
    : global_(global) {
  CLI::App* bench = app.add_subcommand(
      "bench", "Load generators: measure ops/s, MB/s and latency of a server");
  bench->require_subcommand(1);

  read_ = bench->add_subcommand(
      "read",
      "Read whole files found under --dir (relative to the server's root) in\n"
      "random order over --streams Session streams, each keeping --inflight\n"
      "batches of --batch Read ops in flight, for --duration seconds.\n"
      "Prints ops/s, MB/s (10^6 B), latency percentiles (batch sent ->\n"
      "READ_COMPLETE) and errors");
  read_->add_option("--dir", read_opt_.dir,
                    "Remote directory whose files (recursively) are read");
  read_->add_option("--path", read_opt_.paths,
                    "Read these remote files instead of listing --dir (repeatable)");
  read_opt_.batch = 64;
  read_opt_.inflight = 8;
  AddLoadOptions(read_, read_opt_, "Read ops per batch", "Seconds measured");
  read_->add_option("--warmup", read_opt_.warmup_s, "Seconds run before measuring")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  read_->add_option("--count", read_opt_.count,
                    "Stop after this many ops in all (0: run for --duration)");
  read_->add_option("--max-files", read_opt_.max_files, "Most files listed")
      ->capture_default_str();
  read_->add_flag("--verify", read_opt_.verify, "Check every chunk's CRC32C");
  read_->add_option("--seed", read_opt_.seed, "Seed of the random file order")
      ->capture_default_str();

  write_ = bench->add_subcommand(
      "write",
      "Write --files files of --file-size bytes as DIR/bench-NNNNNN (created\n"
      "or truncated), one Write op each, over --streams Session streams.\n"
      "Prints ops/s, MB/s, latency percentiles (batch sent ->\n"
      "WRITE_COMPLETE) and errors");
  write_->add_option("--dir", write_opt_.dir, "Remote directory (created if missing)")
      ->required();
  write_->add_option("--file-size", write_opt_.file_size, "Bytes per file (e.g. 4K, 1M)")
      ->transform(CLI::AsSizeValue(false))
      ->required();
  write_->add_option("--files", write_opt_.files, "Files to write")
      ->check(CLI::Range(uint64_t{1}, uint64_t{100'000'000}))
      ->required();
  write_->add_flag("--durable", write_opt_.durable,
                   "Each write completes once the file and its directory entry are "
                   "on stable storage (DURABILITY_FULL)");
  write_opt_.batch = 16;
  write_opt_.inflight = 4;
  write_opt_.duration_s = 600;
  AddLoadOptions(write_, write_opt_,
                 "Write ops per batch (fewer when the message would be too big)",
                 "Upper bound in seconds: no batch is sent after it");
}

std::optional<absl::Status> BenchCommands::Run(Client& client) {
  if (read_->parsed()) return RunRead(client);
  if (write_->parsed()) return RunWrite(client);
  return std::nullopt;
}

absl::Status BenchCommands::RunRead(Client& client) {
  BenchOptions& opt = read_opt_;
  std::vector<std::string> files = opt.paths;
  if (files.empty()) {
    if (opt.dir.empty()) {
      return absl::InvalidArgumentError("bench read: give --dir or --path");
    }
    OVERLAPD_RETURN_IF_ERROR(ListFiles(client, opt.dir, 0, opt.max_files, &files));
    if (files.empty()) {
      return absl::NotFoundError(absl::StrCat("bench read: no files under ", opt.dir));
    }
  }
  // A stream stops reading batches once its ops in flight reach the
  // server's limit; a synchronous Write could then block forever.
  absl::StatusOr<v1::Capabilities> caps = client.Capabilities();
  OVERLAPD_RETURN_IF_ERROR(caps.status());
  if (caps->max_inflight_ops_per_stream() != 0 &&
      uint64_t{opt.batch} * opt.inflight > caps->max_inflight_ops_per_stream()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "bench read: --batch x --inflight = %d is above the server's "
        "max_inflight_ops_per_stream (%d)",
        uint64_t{opt.batch} * opt.inflight, caps->max_inflight_ops_per_stream()));
  }
  if (caps->max_ops_per_batch() != 0 && opt.batch > caps->max_ops_per_batch()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "bench read: --batch %d is above the server's max_ops_per_batch (%d)",
        opt.batch, caps->max_ops_per_batch()));
  }

  // Each stream reads the files in its own random order, reshuffled at
  // every lap; --count is split between the streams.
  struct ReadState {
    std::vector<uint32_t> order;
    size_t next = 0;
    uint64_t left = 0;  // ops this stream may still send; UINT64_MAX: no bound
    std::mt19937_64 rng;
  };
  std::vector<ReadState> states(opt.streams);
  std::vector<FillFn> fills;
  for (uint32_t s = 0; s < opt.streams; ++s) {
    ReadState& st = states[s];
    st.order.resize(files.size());
    std::iota(st.order.begin(), st.order.end(), 0);
    st.rng.seed(opt.seed * 1000003 + s);
    std::shuffle(st.order.begin(), st.order.end(), st.rng);
    st.left = opt.count == 0 ? UINT64_MAX
                             : opt.count / opt.streams + (s < opt.count % opt.streams ? 1 : 0);
    fills.push_back([&files, &st](v1::Batch& batch, uint64_t tag_base, uint32_t max_ops) {
      uint32_t n = 0;
      while (n < max_ops && st.left > 0) {
        if (st.next == st.order.size()) {
          std::shuffle(st.order.begin(), st.order.end(), st.rng);
          st.next = 0;
        }
        v1::Op* op = batch.add_ops();
        op->set_tag(tag_base | n);
        op->mutable_read()->set_path(files[st.order[st.next++]]);
        --st.left;
        ++n;
      }
      return n;
    });
  }
  // On the lane a stream has at most this many ops in flight, one slot each.
  std::vector<uint64_t> in_flight;
  for (const ReadState& st : states) {
    in_flight.push_back(std::min<uint64_t>(uint64_t{opt.batch} * opt.inflight, st.left));
  }
  OVERLAPD_ASSIGN_OR_RETURN(std::unique_ptr<BenchLane> lane,
                            BenchLane::ForRead(client, *caps, files, in_flight, global_.no_lane,
                                               global_.lane, global_.connect.token));
  BenchResult result = RunLoad(global_, opt, opt.batch, opt.inflight, fills, lane.get());
  result.lane = lane != nullptr;
  return Report("bench read", files.size(), result);
}

absl::Status BenchCommands::RunWrite(Client& client) {
  BenchOptions& opt = write_opt_;
  absl::StatusOr<v1::Capabilities> caps = client.Capabilities();
  OVERLAPD_RETURN_IF_ERROR(caps.status());
  if (caps->max_op_bytes() != 0 && opt.file_size > caps->max_op_bytes()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "bench write: --file-size %d is above the server's max_op_bytes (%d)",
        opt.file_size, caps->max_op_bytes()));
  }
  // Keep each batch message well under the server's message limit.
  const uint64_t message_limit =
      caps->max_message_bytes() != 0 ? caps->max_message_bytes() : internal::kMaxMessageBytes;
  const uint64_t per_op = opt.file_size + 1024;
  const uint64_t room = message_limit > internal::kMessageOverheadBytes
                            ? message_limit - internal::kMessageOverheadBytes
                            : per_op;
  uint32_t batch = static_cast<uint32_t>(
      std::max<uint64_t>(1, std::min<uint64_t>(opt.batch, room / per_op)));
  if (caps->max_inflight_ops_per_stream() != 0) {
    opt.inflight = std::max<uint32_t>(
        1, std::min<uint32_t>(opt.inflight, caps->max_inflight_ops_per_stream() / batch));
  }
  OVERLAPD_RETURN_IF_ERROR(client.Mkdir(opt.dir, /*parents=*/true));

  std::string content(opt.file_size, '\0');
  std::mt19937_64 gen(opt.seed);
  for (char& c : content) c = static_cast<char>(gen());
  const std::string prefix = opt.dir == "." ? "" : opt.dir + "/";
  const v1::Durability durability = opt.durable ? v1::DURABILITY_FULL : v1::DURABILITY_NONE;

  // Stream s writes files s, s + streams, s + 2 * streams, ...
  std::vector<uint64_t> next(opt.streams);
  std::vector<FillFn> fills;
  for (uint32_t s = 0; s < opt.streams; ++s) {
    next[s] = s;
    fills.push_back([&, s](v1::Batch& b, uint64_t tag_base, uint32_t max_ops) {
      uint32_t n = 0;
      while (n < max_ops && next[s] < opt.files) {
        v1::Op* op = b.add_ops();
        op->set_tag(tag_base | n);
        v1::Write* w = op->mutable_write();
        w->set_path(absl::StrFormat("%sbench-%06d", prefix, next[s]));
        w->set_data(content);
        w->set_mode(v1::WRITE_MODE_TRUNCATE);
        w->set_durability(durability);
        next[s] += opt.streams;
        ++n;
      }
      return n;
    });
  }
  opt.batch = batch;
  BenchResult result = RunLoad(global_, opt, batch, opt.inflight, fills);
  return Report("bench write", opt.files, result);
}

absl::Status BenchCommands::Report(const std::string& command, uint64_t files,
                                   const BenchResult& r) {
  const BenchOptions& opt = command == "bench read" ? read_opt_ : write_opt_;
  if (opt.json || global_.json) {
    PrintJson(BenchResultJson(command, opt, files, r));
  } else {
    std::cout << absl::StrFormat(
        "%s: %d ops, %s in %.2f s over %d streams (batch %d, inflight %d, %d files)\n"
        "  ops/s     %.0f\n"
        "  MB/s      %.1f\n"
        "  latency   p50 %.0f us  p90 %.0f us  p99 %.0f us  p99.9 %.0f us  max %.0f us\n"
        "  errors    %d\n"
        "  client    %.2f s CPU\n"
        "  data      %s\n",
        command, r.ops, HumanBytes(r.bytes), r.seconds, opt.streams, opt.batch,
        opt.inflight, files, r.ops_per_s(), r.mb_per_s(), r.p50_us, r.p90_us,
        r.p99_us, r.p999_us, r.max_us, r.errors, r.client_cpu_s,
        r.lane ? "buffer lane (shared memory)" : "gRPC");
  }
  if (r.errors == 0) return absl::OkStatus();
  return absl::AbortedError(
      absl::StrCat(command, ": ", r.errors, " ops failed; first: ", r.first_error));
}

}  // namespace cli
}  // namespace overlapd
