// overlapd: the server binary.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/grpcpp.h>
#include <gperftools/malloc_extension.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/strings/str_cat.h"
#include "ioengine/recovery.h"
#include "ioengine/temp_names.h"
#include "service/auth.h"
#include "service/config.h"
#include "service/durable_state.h"
#include "service/event_log.h"
#include "service/jobs.h"
#include "service/listener.h"
#include "service/io_service.h"
#include "service/logging.h"
#include "service/metrics.h"
#include "service/operations.h"

namespace {

using overlapd::ServerConfig;

// Blocks SIGINT/SIGTERM (stop) and SIGHUP (reload) in every thread (threads
// inherit the mask), so that main can take them with sigwait instead of an
// async handler.
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

std::string HostOf(const std::string& addr) {
  size_t colon = addr.rfind(':');
  return colon == std::string::npos ? addr : addr.substr(0, colon);
}

// Reads `path` into `store`; on error the tokens in force stay.
absl::Status LoadTokens(const std::string& path, overlapd::TokenStore& store) {
  auto loaded = overlapd::TokenTable::Load(path);
  if (!loaded.ok()) return loaded.status();
  spdlog::info("bearer tokens: {} from {}", loaded->size(), path);
  store.Set(std::make_shared<const overlapd::TokenTable>(*std::move(loaded)));
  return absl::OkStatus();
}

// Open files are the fd cache's currency, and connections need them too.
// Take the hard limit (raising it to twice the cache where privileged) or
// --max-open-files, then split it: a reserve of a quarter (at least 64) for
// connections, the listener and the process itself, which the engine never
// touches (an accept that meets EMFILE may never be retried by gRPC); the
// engine's open files within the rest; the cache within half of that.
void RaiseFileLimit(ServerConfig& config) {
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  const rlim_t wanted = 2 * static_cast<rlim_t>(config.engine_options.fd_cache_entries);
  if (config.max_open_files == 0 && lim.rlim_max < wanted) {
    struct rlimit raised = {wanted, wanted};
    setrlimit(RLIMIT_NOFILE, &raised);  // fails without CAP_SYS_RESOURCE
    getrlimit(RLIMIT_NOFILE, &lim);
  }
  const rlim_t target = config.max_open_files == 0
                            ? lim.rlim_max
                            : std::min<rlim_t>(lim.rlim_max, config.max_open_files);
  if (lim.rlim_cur != target) {
    lim.rlim_cur = target;
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
  }
  const size_t limit = static_cast<size_t>(lim.rlim_cur);
  const size_t reserve = std::max<size_t>(64, limit / 4);
  config.engine_options.max_open_files = limit > reserve ? limit - reserve : 1;
  size_t cap = config.engine_options.max_open_files / 2;
  if (config.engine_options.fd_cache_entries > cap) {
    spdlog::info("--fd-cache {} lowered to {} (half the engine's share of the open-file limit)",
                 config.engine_options.fd_cache_entries, cap);
    config.engine_options.fd_cache_entries = cap;
  }
}

// The state directory must lie outside the root: clients must never reach
// the key that proves temp names.
absl::StatusOr<overlapd::io::TempNamer> OpenStateDir(ServerConfig& config) {
  namespace fs = std::filesystem;
  if (config.state_dir.empty()) {
    std::string root = config.root;
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    config.state_dir = root + ".state";
  }
  std::error_code ec;
  fs::create_directories(config.state_dir, ec);
  const fs::path state = fs::weakly_canonical(config.state_dir, ec);
  const fs::path root = fs::weakly_canonical(config.root, ec);
  auto [r, s] = std::mismatch(root.begin(), root.end(), state.begin(), state.end());
  if (r == root.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--state-dir ", config.state_dir, " lies inside --root ", config.root,
        ": clients could reach it; put it beside the root"));
  }
  absl::StatusOr<overlapd::io::TempNamer> namer =
      overlapd::io::TempNamer::LoadOrCreate(config.state_dir);
  if (!namer.ok()) {
    return absl::Status(namer.status().code(),
                        absl::StrCat(namer.status().message(),
                                     " (choose another place with --state-dir)"));
  }
  spdlog::info("state directory {}", config.state_dir);
  return namer;
}

// SIGTERM: new calls are refused at once; calls and jobs in flight may
// finish within --drain-seconds. A second before the end (half the drain
// time when it is shorter), what still runs is cancelled, so that its
// OP_CANCELLED events reach the callers and the subscribers while their
// streams are still open; then subscriptions send what the log holds and
// end, and whatever is left is cut at the deadline. Every op already in the
// engine completes before the engine is destroyed, so a durable write
// acknowledged is durable.
void Drain(const ServerConfig& config, overlapd::ServiceContext& ctx, grpc::Server& server,
           overlapd::JobManager& jobs) {
  using std::chrono::milliseconds;
  const auto drain = milliseconds(int64_t{config.drain_seconds} * 1000);
  const auto deadline = std::chrono::system_clock::now() + drain;
  const auto cancel_at = std::chrono::steady_clock::now() + drain - std::min(drain / 2, milliseconds(1000));
  // Calls end as they fall idle: a Session that has had no batch and no op
  // in flight for half a second stops reading (an upload sending batch
  // after batch goes on); subscriptions go on, to carry the jobs' last
  // events.
  std::thread stopper([&] { server.Shutdown(deadline); });
  const uint64_t idle_ns = 500'000'000;
  while (std::chrono::steady_clock::now() < cancel_at) {
    ctx.streams.ShutdownIdleCalls(overlapd::MonotonicNs(), idle_ns);
    if (ctx.streams.calls() == 0) break;
    std::this_thread::sleep_for(milliseconds(20));  // polling the calls' end
  }
  auto left = cancel_at - std::chrono::steady_clock::now();
  // Jobs wait until cancel_at, then are cancelled and waited for.
  jobs.Drain(std::max<int64_t>(
      0, std::chrono::duration_cast<std::chrono::nanoseconds>(left).count()));
  ctx.streams.CancelOps();
  ctx.streams.ShutdownAll();  // the rest stop reading; subscriptions end
  stopper.join();
}

int Run(ServerConfig& config, const overlapd::OperatorOptions& ops) {
  RaiseFileLimit(config);
  std::error_code ec;
  std::filesystem::create_directories(config.root, ec);
  if (ec) {
    spdlog::error("--root {}: cannot create: {}", config.root, ec.message());
    return 1;
  }
  int root_fd = open(config.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) {
    spdlog::error("--root {}: {}", config.root, strerror(errno));
    return 1;
  }
  config.engine_options.root_fd = root_fd;
  config.engine_options.max_read_bytes = config.limits.max_read_bytes;
  absl::StatusOr<overlapd::io::TempNamer> temp_namer = OpenStateDir(config);
  if (!temp_namer.ok()) {
    spdlog::error("{}", std::string(temp_namer.status().message()));
    return 1;
  }
  config.engine_options.temp_namer = &*temp_namer;

  sigset_t stop_signals = BlockStopSignals();

  std::string engine_fallback;  // why io_uring could not start, if it could not
  auto engine =
      overlapd::io::CreateEngine(config.engine, config.engine_options, &engine_fallback);
  if (!engine.ok()) {
    spdlog::error("engine: {}", std::string(engine.status().message()));
    return 1;
  }
  overlapd::io::SweepResult swept = overlapd::io::SweepTempFiles(
      config.root, *temp_namer, config.upload_grace_s, /*atomic_too=*/true);
  if (swept.atomic_removed > 0) {
    spdlog::warn("removed {} temp files of atomic writes interrupted by a crash",
                 swept.atomic_removed);
  }
  if (swept.uploads_removed > 0) {
    spdlog::info("removed {} upload temp files unmodified for {} s", swept.uploads_removed,
                 config.upload_grace_s);
  }
  overlapd::io::UploadSweeper upload_sweeper(
      config.root, &*temp_namer, config.upload_grace_s,
      std::clamp<int64_t>(config.upload_grace_s / 4, 60, 3600));
  overlapd::EventLog log(config.event_log_events, config.event_log_bytes);
  auto durable = overlapd::DurableState::Open(config);
  if (!durable.ok()) {
    spdlog::error("{}", std::string(durable.status().message()));
    return 1;
  }
  overlapd::io::ReadCredit read_budget(config.max_read_buffer_bytes);
  auto metrics = overlapd::Metrics::Create(config.metrics_listen, engine->get(), &log,
                                           &read_budget, root_fd);
  if (!metrics.ok()) {
    spdlog::error("{}", std::string(metrics.status().message()));
    return 1;
  }
  (*metrics)->SetBuildInfo(std::string((*engine)->name()), engine_fallback);

  auto credentials =
      overlapd::ServerCredentials(config.tls_cert, config.tls_key, config.tls_client_ca);
  if (!credentials.ok()) {
    spdlog::error("{}", std::string(credentials.status().message()));
    return 1;
  }
  overlapd::TokenStore tokens;
  if (!config.tokens_file.empty()) {
    absl::Status loaded = LoadTokens(config.tokens_file, tokens);
    if (!loaded.ok()) {
      spdlog::error("{}", std::string(loaded.message()));
      return 1;
    }
    if (config.tls_cert.empty() && HostOf(config.listen) != "127.0.0.1" &&
        HostOf(config.listen) != "localhost" && HostOf(config.listen) != "[::1]") {
      spdlog::warn("--tokens without TLS: tokens cross the network in plaintext");
    }
  }

  overlapd::ServiceContext ctx;
  // Without --tokens every call is allowed, and no call pays for the check.
  if (!config.tokens_file.empty()) ctx.tokens = &tokens;
  ctx.temp_namer = &*temp_namer;
  ctx.read_budget = &read_budget;
  ctx.engine = engine->get();
  ctx.metrics = metrics->get();
  ctx.config = &config;
  ctx.log = &log;
  overlapd::JobManager::Options job_options;
  job_options.max_running = config.max_jobs;
  job_options.max_finished = config.max_finished_jobs;
  job_options.finished_ttl_ns = config.finished_job_ttl_s * 1'000'000'000;
  job_options.read_credit_bytes = config.limits.max_inflight_read_bytes;
  overlapd::JobManager jobs(ctx, log, job_options);
  overlapd::IoServiceImpl service(ctx, jobs);
  overlapd::Operations operations(ops, metrics->get(), ctx.tokens);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  // Plaintext TCP: overlapd's own listening socket (listener.h says why).
  std::unique_ptr<overlapd::Listener> listener;
  if (config.tls_cert.empty() && config.listen.rfind("unix:", 0) != 0) {
    auto opened = overlapd::Listener::Open(config.listen);
    if (!opened.ok()) {
      spdlog::error("{}", std::string(opened.status().message()));
      return 1;
    }
    listener = *std::move(opened);
    port = listener->port();
  } else {
    builder.AddListeningPort(config.listen, *credentials, &port);
  }
  builder.RegisterService(&service);
  operations.AttachTo(builder, listener != nullptr ? &listener->peers() : nullptr);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.limits.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(config.limits.max_message_bytes));
  // Compressed requests are refused (UNIMPLEMENTED): a few MiB of gzip
  // inflate to gigabytes before any size check could see them.
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_DEFLATE, false);
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_GZIP, false);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(config.max_streams_per_connection));
  // Connections whose peer vanished are found and closed, with their calls.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    spdlog::error("cannot listen on {} (in use, or not an address)", config.listen);
    return 1;
  }
  // Jobs and events back before the first client comes.
  if (absl::Status started = (*durable)->Start(ctx, log, jobs, **metrics); !started.ok()) {
    spdlog::error("{}", std::string(started.message()));
    return 1;
  }
  if (listener != nullptr) listener->Start(server.get());
  std::string grpc_addr = HostOf(config.listen) + ":" + std::to_string(port);
  spdlog::info("overlapd {} serving {} on {} (engine {}, {} workers, chunk {} bytes)",
               OVERLAPD_VERSION, config.root, grpc_addr, (*engine)->name(),
               (*engine)->workers(), (*engine)->options().chunk_bytes);
  std::string metrics_addr = "off";
  if (!config.metrics_listen.empty()) {
    metrics_addr = HostOf(config.metrics_listen) + ":" +
                   std::to_string((*metrics)->port());
    spdlog::info("metrics on http://{}/metrics", metrics_addr);
  }
  // The status page and the health statuses first: whoever reads the ready
  // line may ask for them at once.
  operations.Serving(*server, {&jobs, &log, engine->get(), ctx.tokens != nullptr},
                     "serving " + config.root + " on " + grpc_addr);
  // One machine-readable line for scripts and tests that start overlapd on
  // port 0.
  std::printf("overlapd ready grpc=%s metrics=%s\n", grpc_addr.c_str(),
              metrics_addr.c_str());
  std::fflush(stdout);

  int sig = 0;
  const uint64_t stall_ns = static_cast<uint64_t>(config.write_stall_seconds) * 1'000'000'000;
  uint64_t last_release_ns = overlapd::MonotonicNs();
  for (;;) {
    // Once a second: cut streams whose client stopped reading, and every
    // 10 s hand memory freed since back to the OS.
    const struct timespec tick = {1, 0};
    sig = sigtimedwait(&stop_signals, nullptr, &tick);
    if (sig < 0) {
      const uint64_t now = overlapd::MonotonicNs();
      ctx.streams.CancelStalled(now, stall_ns);
      if (now - last_release_ns > 10'000'000'000) {
        MallocExtension::instance()->ReleaseFreeMemory();
        last_release_ns = now;
      }
      continue;
    }
    if (sig != SIGHUP) break;
    // SIGHUP: reread the token file; calls already running keep the grant
    // they were authenticated with.
    if (config.tokens_file.empty()) {
      spdlog::info("SIGHUP: no --tokens file to reload");
      continue;
    }
    operations.Reloading();
    absl::Status reloaded = LoadTokens(config.tokens_file, tokens);
    if (!reloaded.ok()) {
      spdlog::error("SIGHUP: {}; the tokens in force stay", std::string(reloaded.message()));
    }
    operations.Reloaded();
  }
  spdlog::info("{}: draining (up to {} s for calls in flight)", strsignal(sig),
               config.drain_seconds);
  operations.Stopping(*server);
  if (listener != nullptr) listener->Stop();  // new connections are refused
  Drain(config, ctx, *server, jobs);
  operations.Stopped();
  server.reset();
  engine->reset();
  (*durable)->Stop();
  close(root_fd);
  spdlog::info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil keeps absl::Mutex deadlock detection on: every lock gRPC
  // takes updates a process-wide lock graph, which grows with the streams
  // (thousands of idle Subscribe calls made it a visible share of the
  // server's CPU). The server's own locks are std::mutex.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  ServerConfig config;
  std::string engine_name = "auto";
  overlapd::OperatorOptions ops;
  uint64_t chunk_bytes = config.engine_options.chunk_bytes;

  CLI::App app{
      "overlapd: batched file IO over gRPC, on an io_uring engine.\n"
      "Clients send batches of reads and writes; completion events stream back\n"
      "as each operation finishes."};
  app.add_option("--root", config.root,
                 "Directory served; every client path is relative to it and "
                 "cannot leave it (created if missing)")
      ->required();
  app.add_option("--listen", config.listen, "gRPC address (port 0: any free port)")
      ->check(overlapd::GrpcListenCheck())
      ->capture_default_str();
  app.add_option("--metrics-listen", config.metrics_listen,
                 "Prometheus exporter (/metrics) and status page (/) address; empty "
                 "disables it")
      ->check(overlapd::MetricsListenCheck())
      ->capture_default_str();
  app.add_option("--workers", config.engine_options.workers,
                 "Engine worker threads, each with its own ring (0: one per core)")
      ->capture_default_str();
  app.add_option("--engine", engine_name,
                 "IO backend: uring, threads, or auto (uring, falling back to threads)")
      ->check(CLI::IsMember({"auto", "uring", "threads"}))
      ->capture_default_str();
  app.add_option("--chunk-bytes", chunk_bytes,
                 "Reads and writes are split into chunks of this size across workers")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--queue-depth", config.engine_options.queue_depth,
                 "IOs in flight per worker")
      ->check(CLI::Range(1, 32768))
      ->capture_default_str();
  app.add_option("--fd-cache", config.engine_options.fd_cache_entries,
                 "Open files kept for reads (0 disables)")
      ->capture_default_str();
  app.add_option("--max-open-files", config.max_open_files,
                 "File descriptor limit to run with (0: the hard limit); a quarter of it "
                 "(at least 64) is kept for connections")
      ->capture_default_str();
  app.add_option("--list-cache", config.engine_options.list_cache_bytes,
                 "Bytes of sorted directory listings kept between List pages "
                 "(0: every page reads its whole directory)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_flag("--sqpoll", config.engine_options.sqpoll,
               "io_uring SQPOLL: a kernel thread polls submissions (needs root)");
  app.add_option("--max-ops-per-batch", config.limits.max_ops_per_batch,
                 "Most ops in one batch")
      ->capture_default_str();
  app.add_option("--max-op-bytes", config.limits.max_op_bytes,
                 "Largest Write payload")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--max-read-bytes", config.limits.max_read_bytes,
                 "Largest range one Read or Copy may cover, reads to end of file included")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--max-message-bytes", config.limits.max_message_bytes,
                 "Largest gRPC message in either direction")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--max-inflight-ops", config.limits.max_inflight_ops,
                 "Ops in flight per stream before it stops reading batches")
      ->capture_default_str();
  app.add_option("--max-inflight-read-bytes", config.limits.max_inflight_read_bytes,
                 "Read bytes in flight per stream before its reads pause")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--drain-seconds", config.drain_seconds,
                 "On SIGTERM, how long calls in flight may take to finish")
      ->capture_default_str();
  app.add_option("--event-log-events", config.event_log_events,
                 "Events kept for Subscribe (resume with from_seq while they last)")
      ->check(CLI::Range(1, 1 << 28))
      ->capture_default_str();
  app.add_option("--event-log-bytes", config.event_log_bytes,
                 "Bytes the event log may hold (oldest events go first)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--max-read-buffer-bytes", config.max_read_buffer_bytes,
                 "Read bytes in flight over the whole server: every stream and job draws "
                 "from it too; reads wait when it is spent")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--max-streams", config.max_streams,
                 "Streaming calls open at once; more are refused with RESOURCE_EXHAUSTED")
      ->capture_default_str();
  app.add_option("--max-streams-per-connection", config.max_streams_per_connection,
                 "Concurrent calls on one HTTP/2 connection")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--write-stall-seconds", config.write_stall_seconds,
                 "A stream whose client takes no data for this long is cancelled, "
                 "freeing its buffers")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  app.add_option("--max-jobs", config.max_jobs, "Detached jobs running at once")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--max-finished-jobs", config.max_finished_jobs,
                 "Finished jobs kept for GetJob/ListJobs")
      ->capture_default_str();
  app.add_option("--finished-job-ttl", config.finished_job_ttl_s,
                 "Seconds a finished job is kept")
      ->capture_default_str();
  app.add_option("--tls-cert", config.tls_cert, "TLS: the server's certificate chain (PEM)")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", config.tls_key, "TLS: the server's private key (PEM)")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-client-ca", config.tls_client_ca,
                 "Mutual TLS: clients must present a certificate signed by this CA (PEM)")
      ->check(CLI::ExistingFile);
  app.add_option("--tokens", config.tokens_file,
                 "Bearer tokens, one per line: TOKEN SCOPES [PATH_PREFIX] (scopes: "
                 "read,write); every call must then carry one. SIGHUP rereads it")
      ->check(CLI::ExistingFile);
  app.add_option("--state-dir", config.state_dir,
                 "Server state outside --root (jobs, the event log, the key that proves "
                 "overlapd's temp file names); default: ROOT.state beside the root");
  app.add_option("--upload-grace", config.upload_grace_s,
                 "Seconds an upload's temp file may go unmodified before it is swept")
      ->check(CLI::Range(int64_t{1}, int64_t{365} * 24 * 3600))
      ->capture_default_str();
  overlapd::AddOperatorFlags(app, ops);
  overlapd::AddDurabilityFlags(app, config);
  CLI11_PARSE(app, argc, argv);

  if (absl::Status logging = overlapd::ConfigureLogging(ops.log_level, ops.log_format);
      !logging.ok()) {
    std::fprintf(stderr, "overlapd: %s\n", std::string(logging.message()).c_str());
    return 2;
  }
  config.engine_options.chunk_bytes = chunk_bytes;
  config.engine = engine_name == "uring"     ? overlapd::io::EngineKind::kUring
                  : engine_name == "threads" ? overlapd::io::EngineKind::kThreads
                                             : overlapd::io::EngineKind::kAuto;
  if (config.limits.max_op_bytes + (1 << 20) > config.limits.max_message_bytes) {
    spdlog::error("--max-op-bytes must be at least 1 MiB below --max-message-bytes");
    return 2;
  }
  if (chunk_bytes == 0 || chunk_bytes > config.limits.max_event_bytes_per_message) {
    spdlog::error("--chunk-bytes must be between 1 and {}",
                  config.limits.max_event_bytes_per_message);
    return 2;
  }
  return Run(config, ops);
}
