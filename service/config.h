// Server settings, filled from flags by main.cc.
#ifndef OVERLAPD_SERVICE_CONFIG_H_
#define OVERLAPD_SERVICE_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>

#include "ioengine/engine.h"

namespace overlapd {

// Limits a client can meet; GetCapabilities reports them.
struct Limits {
  uint32_t max_ops_per_batch = 4096;
  uint64_t max_op_bytes = 64ull << 20;    // Write.data
  uint64_t max_read_bytes = 1ull << 40;   // explicit Read.length
  uint64_t max_message_bytes = 80ull << 20;
  uint32_t max_inflight_ops = 4096;       // per stream
  uint64_t max_inflight_read_bytes = 64ull << 20;  // per stream
  uint32_t max_list_entries = 10000;
  uint32_t max_events_per_message = 1024;
  // Data bytes in one EventBatch before it is sent.
  uint64_t max_event_bytes_per_message = 4ull << 20;
};

struct ServerConfig {
  std::string root;
  std::string listen = "127.0.0.1:50051";
  std::string metrics_listen = "127.0.0.1:9464";  // empty: no exporter
  io::EngineKind engine = io::EngineKind::kAuto;
  io::EngineOptions engine_options;
  Limits limits;
  // Seconds SIGTERM waits for calls in flight before cancelling them.
  int drain_seconds = 30;
  // Events the Subscribe log keeps, and their bytes.
  size_t event_log_events = 1 << 20;
  uint64_t event_log_bytes = 256ull << 20;
  // Read bytes in flight over the whole server (every stream's and job's
  // credit draws from it as well as from its own).
  uint64_t max_read_buffer_bytes = 1ull << 30;
  // Streaming calls open at once, server-wide and per connection.
  uint32_t max_streams = 16384;
  uint32_t max_streams_per_connection = 128;
  // RLIMIT_NOFILE to run with; 0: the hard limit.
  uint64_t max_open_files = 0;
  // A stream whose write waits on its client this long is cancelled.
  int write_stall_seconds = 60;
  // Threads that write streams' events for the engine's workers
  // (writer_pool.h). 0: the worker that completes an op writes; -1: half
  // the engine's workers, at least one.
  int writer_threads = -1;
  uint32_t max_jobs = 64;          // running at once
  uint32_t max_finished_jobs = 1000;
  int64_t finished_job_ttl_s = 3600;
  // TLS: PEM files; with a client CA, clients must present a certificate
  // it signed (mutual TLS).
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  std::string tokens_file;  // bearer tokens; see auth.h
  // A cluster's placement map and this node's name in it (placement.h);
  // empty: one node owns every path.
  std::string placement_file;
  std::string node_name;
  // How often the placement file is looked at for a change (a ConfigMap
  // update, a file renamed in); 0: on SIGHUP only, so that an operator
  // moving a prefix decides which node learns the new map when
  // (deploy/README.md, "Adding a node").
  int placement_poll_seconds = 0;
  // Outside the root: the key that proves temp names (temp_names.h) and the
  // state store (state_store.h). Empty: the root's sibling "ROOT.state".
  std::string state_dir;
  // Jobs and the event log only in memory, as before the state store: a
  // restart forgets them (the baseline of tests/bench/durability.sh).
  bool in_memory_state = false;
  // A subscription that was sent nothing for this long gets a PROGRESS
  // bookmark (0: never).
  int progress_seconds = 5;
  // Seconds an upload temp (BeginUpload) may go unmodified before the
  // sweep removes it.
  int64_t upload_grace_s = 24 * 3600;
  // The buffer lane's Unix socket (buffer_lane.h): unset, ROOT.sock beside
  // the root; empty, the lane is off. And the bytes of buffers one
  // connection to it may register.
  std::optional<std::string> buffer_socket;
  uint64_t max_buffer_bytes = 4ull << 30;
  uint64_t max_buffer_total_bytes = 16ull << 30;  // over every connection
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_CONFIG_H_
