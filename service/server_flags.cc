#include "service/server_flags.h"

#include "absl/strings/str_cat.h"
#include "service/buffer_lane.h"
#include "service/durable_state.h"

namespace overlapd {
namespace {

void AddAddressFlags(CLI::App& app, ServerConfig& config) {
  app.add_option("--root", config.root,
                 "Directory served; every client path is relative to it and "
                 "cannot leave it (created if missing)")
      ->required();
  app.add_option("--listen", config.listen, "gRPC address (port 0: any free port)")
      ->check(GrpcListenCheck())
      ->capture_default_str();
  app.add_option("--metrics-listen", config.metrics_listen,
                 "Prometheus exporter (/metrics) and status page (/) address; empty "
                 "disables it")
      ->check(MetricsListenCheck())
      ->capture_default_str();
  app.add_option("--state-dir", config.state_dir,
                 "Server state outside --root (jobs, the event log, the key that proves "
                 "overlapd's temp file names); default: ROOT.state beside the root");
}

void AddEngineFlags(CLI::App& app, ServerFlags& flags) {
  io::EngineOptions& engine = flags.config.engine_options;
  app.add_option("--workers", engine.workers,
                 "Engine worker threads, each with its own ring (0: one per core)")
      ->capture_default_str();
  app.add_option("--engine", flags.engine_name,
                 "IO backend: uring, threads, or auto (uring, falling back to threads)")
      ->check(CLI::IsMember({"auto", "uring", "threads"}))
      ->capture_default_str();
  app.add_option("--chunk-bytes", engine.chunk_bytes,
                 "Reads and writes are split into chunks of this size across workers")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--queue-depth", engine.queue_depth, "IOs in flight per worker")
      ->check(CLI::Range(1, 32768))
      ->capture_default_str();
  app.add_option("--fd-cache", engine.fd_cache_entries, "Open files kept for reads (0 disables)")
      ->capture_default_str();
  app.add_option("--max-open-files", flags.config.max_open_files,
                 "File descriptor limit to run with (0: the hard limit); a quarter of it "
                 "(at least 64) is kept for connections")
      ->capture_default_str();
  app.add_option("--list-cache", engine.list_cache_bytes,
                 "Bytes of sorted directory listings kept between List pages "
                 "(0: every page reads its whole directory)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_flag("--sqpoll", engine.sqpoll,
               "io_uring SQPOLL: a kernel thread polls submissions (needs root)");
  app.add_option("--writer-threads", flags.config.writer_threads,
                 "Threads that serialise and write events for the engine workers (-1: half "
                 "the workers, at least one; 0: the worker that completes an op writes its "
                 "event itself)")
      ->check(CLI::Range(-1, 64))
      ->capture_default_str();
}

// What one call may ask for.
void AddRequestLimitFlags(CLI::App& app, Limits& limits) {
  app.add_option("--max-ops-per-batch", limits.max_ops_per_batch, "Most ops in one batch")
      ->capture_default_str();
  app.add_option("--max-op-bytes", limits.max_op_bytes, "Largest Write payload")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--max-read-bytes", limits.max_read_bytes,
                 "Largest range one Read or Copy may cover, reads to end of file included")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--max-message-bytes", limits.max_message_bytes,
                 "Largest gRPC message in either direction")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--max-inflight-ops", limits.max_inflight_ops,
                 "Ops in flight per stream before it stops reading batches")
      ->capture_default_str();
  app.add_option("--max-inflight-read-bytes", limits.max_inflight_read_bytes,
                 "Read bytes in flight per stream before its reads pause")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
}

// What the whole server may hold, over every call.
void AddServerBudgetFlags(CLI::App& app, ServerConfig& config) {
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
  app.add_option("--drain-seconds", config.drain_seconds,
                 "On SIGTERM, how long calls in flight may take to finish")
      ->capture_default_str();
}

void AddJobAndLogFlags(CLI::App& app, ServerConfig& config) {
  app.add_option("--event-log-events", config.event_log_events,
                 "Events kept for Subscribe (resume with from_seq while they last)")
      ->check(CLI::Range(1, 1 << 28))
      ->capture_default_str();
  app.add_option("--event-log-bytes", config.event_log_bytes,
                 "Bytes the event log may hold (oldest events go first)")
      ->transform(CLI::AsSizeValue(false))
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
  app.add_option("--upload-grace", config.upload_grace_s,
                 "Seconds an upload's temp file may go unmodified before it is swept")
      ->check(CLI::Range(int64_t{1}, int64_t{365} * 24 * 3600))
      ->capture_default_str();
}

void AddSecurityFlags(CLI::App& app, ServerConfig& config) {
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
}

// One node of a cluster (placement.h).
void AddClusterFlags(CLI::App& app, ServerConfig& config) {
  app.add_option("--placement", config.placement_file,
                 "Placement map (JSON: version, nodes with name, address, prefixes): ops on "
                 "paths another node owns are refused with FAILED_PRECONDITION and a redirect. "
                 "SIGHUP rereads it. Without it this node owns every path")
      ->check(CLI::ExistingFile);
  app.add_option("--placement-poll-seconds", config.placement_poll_seconds,
                 "Reread the --placement file when it changes (inode, size or time; a "
                 "Kubernetes ConfigMap update swaps a symlink), looking this often; 0: on "
                 "SIGHUP only (the default: moving a prefix needs the nodes to learn the new "
                 "map in order)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--node", config.node_name,
                 "This node's name in the --placement map (in Kubernetes: $(POD_NAME))");
}

}  // namespace

void AddServerFlags(CLI::App& app, ServerFlags& flags) {
  AddAddressFlags(app, flags.config);
  AddEngineFlags(app, flags);
  AddRequestLimitFlags(app, flags.config.limits);
  AddServerBudgetFlags(app, flags.config);
  AddJobAndLogFlags(app, flags.config);
  AddSecurityFlags(app, flags.config);
  AddClusterFlags(app, flags.config);
  AddOperatorFlags(app, flags.ops);
  AddBufferLaneFlags(app, flags.config);
  AddDurabilityFlags(app, flags.config);
}

absl::Status FinishServerFlags(ServerFlags& flags) {
  ServerConfig& config = flags.config;
  config.engine = flags.engine_name == "uring"     ? io::EngineKind::kUring
                  : flags.engine_name == "threads" ? io::EngineKind::kThreads
                                                   : io::EngineKind::kAuto;
  config.engine_options.max_read_bytes = config.limits.max_read_bytes;
  // A Write's payload travels inside one message, beside its batch.
  if (config.limits.max_op_bytes + (1 << 20) > config.limits.max_message_bytes) {
    return absl::InvalidArgumentError(
        "--max-op-bytes must be at least 1 MiB below --max-message-bytes");
  }
  if (config.placement_file.empty() != config.node_name.empty()) {
    return absl::InvalidArgumentError("--placement and --node go together");
  }
  // A chunk's bytes travel in one EventBatch.
  const uint64_t chunk = config.engine_options.chunk_bytes;
  if (chunk == 0 || chunk > config.limits.max_event_bytes_per_message) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--chunk-bytes must be between 1 and ", config.limits.max_event_bytes_per_message));
  }
  return absl::OkStatus();
}

}  // namespace overlapd
