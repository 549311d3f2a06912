// What every call handler shares: the engine, metrics, limits, the event
// log, the token store, the server-wide budgets and the open streams.
#ifndef OVERLAPD_SERVICE_SERVICE_CONTEXT_H_
#define OVERLAPD_SERVICE_SERVICE_CONTEXT_H_

#include <atomic>
#include <cstdint>

#include "ioengine/engine.h"
#include "ioengine/temp_names.h"
#include "service/auth.h"
#include "service/buffer_registry.h"
#include "service/config.h"
#include "service/event_log.h"
#include "service/metrics.h"
#include "service/placement.h"
#include "service/stream_registry.h"
#include "service/writer_pool.h"

namespace overlapd {

// What every call handler shares: the engine, metrics, limits and the
// server-wide counters.
struct ServiceContext {
  io::Engine* engine = nullptr;
  Metrics* metrics = nullptr;
  const ServerConfig* config = nullptr;
  EventLog* log = nullptr;  // also hands out every event's seq
  const TokenStore* tokens = nullptr;  // bearer tokens; null or empty: off
  // The placement map (--placement); null: this node owns every path.
  PlacementStore* placement = nullptr;  // SIGHUP swaps its map (main.cc)
  // The server-wide budget of read bytes in flight, above every stream's
  // and job's own credit (--max-read-buffer-bytes). Null: none.
  io::ReadCredit* read_budget = nullptr;
  const io::TempNamer* temp_namer = nullptr;  // mints BeginUpload's names
  // The buffer lane's registered buffers, and its socket's absolute path;
  // null and empty while the lane is off (buffer_lane.h).
  const BufferRegistry* buffers = nullptr;
  std::string buffer_socket;
  // --writer-threads > 0: where engine workers hand streams' writes.
  // Null: a worker that completes an op writes itself.
  WriterPool* writer_pool = nullptr;
  std::atomic<uint64_t> next_job_id{1};
  StreamRegistry streams;
};

// CLOCK_MONOTONIC in nanoseconds (std::chrono::steady_clock).
uint64_t MonotonicNs();

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_SERVICE_CONTEXT_H_
