// overlapd: the server binary. main parses the flags (server_flags.h); Run
// starts the server in phases (startup.h: file limit, root, state
// directory, engine, sweep, tokens; grpc_server.h: the gRPC server), serves
// until SIGINT/SIGTERM (SIGHUP rereads the tokens), then drains.
#include <signal.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <gperftools/malloc_extension.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "ioengine/mutex_mode.h"
#include "ioengine/recovery.h"
#include "service/buffer_lane.h"
#include "service/durable_state.h"
#include "service/event_log.h"
#include "service/grpc_server.h"
#include "service/io_service.h"
#include "service/jobs.h"
#include "service/logging.h"
#include "service/metrics.h"
#include "service/operations.h"
#include "service/server_flags.h"
#include "service/startup.h"

namespace overlapd {
namespace {

// Blocks SIGINT/SIGTERM (stop) and SIGHUP (reload) in every thread (threads
// inherit the mask), so that the main thread can take them with
// sigtimedwait instead of an async handler.
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int Fail(const absl::Status& status) {
  spdlog::error("{}", std::string(status.message()));
  return 1;
}

JobManager::Options JobOptionsOf(const ServerConfig& config) {
  JobManager::Options options;
  options.max_running = config.max_jobs;
  options.max_finished = config.max_finished_jobs;
  options.finished_ttl_ns = config.finished_job_ttl_s * 1'000'000'000;
  options.read_credit_bytes = config.limits.max_inflight_read_bytes;
  return options;
}

// --writer-threads: the pool engine workers hand streams' writes to
// (writer_pool.h). By default half as many threads as workers, at least
// one: tests/bench/writer_threads.sh measured one writer thread beside two
// workers 1.2-1.3x as fast as workers writing themselves on one-op calls
// and 256 MiB reads (docs/ARCHITECTURE.md).
std::unique_ptr<WriterPool> StartWriterPool(const ServerConfig& config, ServiceContext& ctx) {
  const int threads =
      config.writer_threads >= 0 ? config.writer_threads : std::max(1, ctx.engine->workers() / 2);
  if (threads == 0) return nullptr;
  auto pool = std::make_unique<WriterPool>(threads);
  ctx.writer_pool = pool.get();
  return pool;
}

// The log line for people, then one machine-readable line for scripts and
// tests that start overlapd on port 0.
void AnnounceReady(const ServerConfig& config, const io::Engine& engine,
                   const std::string& grpc_address, const Metrics& metrics) {
  const std::string metrics_address =
      config.metrics_listen.empty()
          ? "off"
          : HostOf(config.metrics_listen) + ":" + std::to_string(metrics.port());
  spdlog::info("overlapd {} serving {} on {} (engine {}, {} workers, chunk {} bytes)",
               OVERLAPD_VERSION, config.root, grpc_address, engine.name(), engine.workers(),
               engine.options().chunk_bytes);
  if (metrics_address != "off") spdlog::info("metrics on http://{}/metrics", metrics_address);
  std::printf("overlapd ready grpc=%s metrics=%s\n", grpc_address.c_str(),
              metrics_address.c_str());
  std::fflush(stdout);
}

// SIGHUP: rereads the token file (calls already running keep the grant they
// were authenticated with) and the placement map (a batch already admitted
// runs under the map it was checked against). A file that fails to load
// leaves what is in force.
void Reload(const ServerConfig& config, TokenStore& tokens, PlacementWatch& placement,
            Operations& operations) {
  placement.Reload("SIGHUP");
  if (config.tokens_file.empty()) {
    spdlog::info("SIGHUP: no --tokens file to reload");
    return;
  }
  operations.Reloading();
  if (absl::Status reloaded = LoadTokens(config.tokens_file, tokens); !reloaded.ok()) {
    spdlog::error("SIGHUP: {}; the tokens in force stay", std::string(reloaded.message()));
  }
  operations.Reloaded();
}

// Waits for SIGINT or SIGTERM and returns it. Meanwhile, once a second, cuts
// streams whose client stopped reading and looks whether the placement file
// changed, and, every 10 s, hands memory freed since back to the OS; on
// SIGHUP reloads (Reload).
int ServeUntilStopped(const ServerConfig& config, ServiceContext& ctx, TokenStore& tokens,
                      Operations& operations, const sigset_t& stop_signals) {
  PlacementWatch placement(config, ctx.placement, ctx.metrics);
  const uint64_t stall_ns = static_cast<uint64_t>(config.write_stall_seconds) * 1'000'000'000;
  uint64_t last_release_ns = MonotonicNs();
  for (;;) {
    const struct timespec tick = {1, 0};
    const int sig = sigtimedwait(&stop_signals, nullptr, &tick);
    if (sig < 0) {
      const uint64_t now = MonotonicNs();
      ctx.streams.CancelStalled(now, stall_ns);
      placement.Poll(now);
      if (now - last_release_ns > 10'000'000'000) {
        MallocExtension::instance()->ReleaseFreeMemory();
        last_release_ns = now;
      }
      continue;
    }
    if (sig != SIGHUP) return sig;
    Reload(config, tokens, placement, operations);
  }
}

// SIGTERM: new calls are refused at once; calls and jobs in flight may
// finish within --drain-seconds. A second before the end (half the drain
// time when it is shorter), what still runs is cancelled, so that its
// OP_CANCELLED events reach the callers and the subscribers while their
// streams are still open; then subscriptions send what the log holds and
// end; whatever is left (health watches) is cut once they have, or at the
// deadline. Every op already in the
// engine completes before the engine is destroyed, so a durable write
// acknowledged is durable.
void Drain(const ServerConfig& config, ServiceContext& ctx, grpc::Server& server,
           JobManager& jobs) {
  using std::chrono::milliseconds;
  const auto drain = milliseconds(int64_t{config.drain_seconds} * 1000);
  const auto deadline = std::chrono::system_clock::now() + drain;
  const auto cancel_at =
      std::chrono::steady_clock::now() + drain - std::min(drain / 2, milliseconds(1000));
  // Calls end as they fall idle: a Session that has had no batch and no op
  // in flight for half a second stops reading (an upload sending batch
  // after batch goes on); subscriptions go on, to carry the jobs' last
  // events.
  std::thread stopper([&] { server.Shutdown(deadline); });
  const uint64_t idle_ns = 500'000'000;
  while (std::chrono::steady_clock::now() < cancel_at) {
    ctx.streams.ShutdownIdleCalls(MonotonicNs(), idle_ns);
    if (ctx.streams.calls() == 0) break;
    std::this_thread::sleep_for(milliseconds(20));  // polling the calls' end
  }
  auto left = cancel_at - std::chrono::steady_clock::now();
  // Jobs wait until cancel_at, then are cancelled and waited for.
  jobs.Drain(std::max<int64_t>(
      0, std::chrono::duration_cast<std::chrono::nanoseconds>(left).count()));
  ctx.streams.CancelOps();
  ctx.streams.ShutdownAll();  // the rest stop reading; subscriptions end
  // Once our own calls have sent their last events, what is left are calls
  // that never end by themselves (health watches, which have seen
  // NOT_SERVING since the drain began): cancelled now, as the deadline
  // would, instead of holding the server to it with nothing left to do.
  while (ctx.streams.size() != 0 && std::chrono::system_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));  // polling the calls' end
  }
  grpc_server_cancel_all_calls(server.c_server());
  stopper.join();
}

// The phases in order; every object lives on this frame, so that they are
// destroyed in reverse: the server before the jobs and the engine, the
// engine (which completes every op it holds) before the root is closed.
int Run(ServerConfig& config, const OperatorOptions& ops) {
  RaiseFileLimit(config);
  absl::StatusOr<int> root_fd = OpenRoot(config.root);
  if (!root_fd.ok()) return Fail(root_fd.status());
  absl::StatusOr<io::TempNamer> temp_namer = OpenStateDir(config);
  if (!temp_namer.ok()) return Fail(temp_namer.status());
  config.engine_options.root_fd = *root_fd;
  config.engine_options.temp_namer = &*temp_namer;
  const sigset_t stop_signals = BlockStopSignals();

  std::string engine_fallback;  // why io_uring could not start, if it could not
  auto engine = io::CreateEngine(config.engine, config.engine_options, &engine_fallback);
  if (!engine.ok()) return Fail(engine.status());
  SweepTempFilesAtStart(config, *temp_namer);
  io::UploadSweeper upload_sweeper(config.root, &*temp_namer, config.upload_grace_s,
                                   std::clamp<int64_t>(config.upload_grace_s / 4, 60, 3600));
  EventLog log(config.event_log_events, config.event_log_bytes);
  auto durable = DurableState::Open(config);
  if (!durable.ok()) return Fail(durable.status());
  io::ReadCredit read_budget(config.max_read_buffer_bytes);
  auto metrics =
      Metrics::Create(config.metrics_listen, engine->get(), &log, &read_budget, *root_fd);
  if (!metrics.ok()) return Fail(metrics.status());
  (*metrics)->SetBuildInfo(std::string((*engine)->name()), engine_fallback);
  TokenStore tokens;
  if (absl::Status loaded = LoadTokensAtStart(config, tokens); !loaded.ok()) return Fail(loaded);
  PlacementStore placement(config.node_name);
  if (absl::Status s = LoadPlacementAtStart(config, placement, **metrics); !s.ok()) return Fail(s);

  ServiceContext ctx;
  // Without --tokens every call is allowed, and no call pays for the check.
  ctx.tokens = config.tokens_file.empty() ? nullptr : &tokens;
  ctx.placement = config.placement_file.empty() ? nullptr : &placement;
  ctx.temp_namer = &*temp_namer;
  ctx.read_budget = &read_budget;
  ctx.engine = engine->get();
  ctx.metrics = metrics->get();
  ctx.config = &config;
  ctx.log = &log;
  // Before the streams and jobs that post to it: it outlives them.
  std::unique_ptr<WriterPool> writer_pool = StartWriterPool(config, ctx);
  // Before the jobs: the lane's registry outlives every op that pins a buffer.
  auto lane = StartBufferLane(config, ctx);
  if (!lane.ok()) return Fail(lane.status());
  JobManager jobs(ctx, log, JobOptionsOf(config));
  IoServiceImpl service(ctx, jobs);
  Operations operations(ops, metrics->get(), ctx.tokens);
  absl::StatusOr<GrpcServer> grpc = BuildGrpcServer(config, service, operations);
  if (!grpc.ok()) return Fail(grpc.status());
  // Jobs and events back before the first client comes.
  if (absl::Status s = (*durable)->Start(ctx, log, jobs, **metrics); !s.ok()) return Fail(s);
  if (grpc->listener != nullptr) grpc->listener->Start(grpc->server.get());
  // The status page and the health statuses first: whoever reads the ready
  // line may ask for them at once.
  operations.Serving(*grpc->server, {&jobs, &log, engine->get(), ctx.tokens != nullptr},
                     "serving " + config.root + " on " + grpc->address);
  AnnounceReady(config, **engine, grpc->address, **metrics);

  const int sig = ServeUntilStopped(config, ctx, tokens, operations, stop_signals);
  spdlog::info("{}: draining (up to {} s for calls)", strsignal(sig), config.drain_seconds);
  operations.Stopping(*grpc->server);
  if (grpc->listener != nullptr) grpc->listener->Stop();  // new connections are refused
  Drain(config, ctx, *grpc->server, jobs);
  operations.Stopped();
  grpc->server.reset();
  engine->reset();
  (*durable)->Stop();
  close(*root_fd);
  spdlog::info("stopped");
  return 0;
}

}  // namespace
}  // namespace overlapd

int main(int argc, char** argv) {
  overlapd::SkipMutexDeadlockDetection();
  overlapd::ServerFlags flags;
  CLI::App app{
      "overlapd: batched file IO over gRPC, on an io_uring engine.\n"
      "Clients send batches of reads and writes; completion events stream back\n"
      "as each operation finishes."};
  overlapd::AddServerFlags(app, flags);
  CLI11_PARSE(app, argc, argv);
  if (absl::Status logging = overlapd::ConfigureLogging(flags.ops.log_level, flags.ops.log_format);
      !logging.ok()) {
    std::fprintf(stderr, "overlapd: %s\n", std::string(logging.message()).c_str());
    return 2;
  }
  if (absl::Status checked = overlapd::FinishServerFlags(flags); !checked.ok()) {
    spdlog::error("{}", std::string(checked.message()));
    return 2;
  }
  return overlapd::Run(flags.config, flags.ops);
}
