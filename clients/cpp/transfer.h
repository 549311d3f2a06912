// Options and results of the whole-file transfers of overlapd::Client
// (PutFile, GetFile). See client.h for the calls themselves.
#ifndef OVERLAPD_CLIENTS_CPP_TRANSFER_H_
#define OVERLAPD_CLIENTS_CPP_TRANSFER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "clients/cpp/retry.h"

namespace overlapd {

// Called after progress with bytes done and the total (0 when unknown).
// Bytes found intact by a resume count as done from the start.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// Options of PutFile.
struct PutOptions {
  // The file is on stable storage (file and directory entry fsynced) before
  // PutFile returns OK.
  bool durable = false;
  // Write straight into the remote path instead of a temporary file renamed
  // over it: an upload that fails or is interrupted leaves the target
  // truncated or half-written. The old behaviour of `overlap put`.
  bool in_place = false;
  // Keep what an interrupted or failed upload sent and use it next time:
  // the state (the remote temp file's name, the local file's size and
  // mtime) lives in LOCAL.overlap-resume; a later PutFile with `resume` and
  // the same local file and target checks the temp file's CRC32C range by
  // range and sends only what is missing or differs. Ignored with in_place
  // and for a stream (stdin).
  bool resume = false;
  // Bytes per Write op (one Batch per chunk); capped by the server's
  // max_op_bytes / max_message_bytes.
  uint64_t chunk_bytes = 4u << 20;
  // Batches sent but not yet acknowledged (BATCH_COMPLETE); capped by the
  // server's max_inflight_ops_per_stream. The upload holds at most this many
  // chunks on the server and one in the client.
  uint32_t inflight = 8;
  // Transient failures (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED)
  // are retried; a retry sends only the chunks not yet acknowledged.
  RetryPolicy retry{};
  RetryFn on_retry = nullptr;
};

// Options of GetFile.
struct GetOptions {
  // Keep LOCAL.partial after a failure or interrupt, with the remote file's
  // size and mtime in LOCAL.overlap-resume; a later GetFile with `resume`
  // checks the partial file's CRC32C range by range against the server's
  // and fetches only what is missing or differs.
  bool resume = false;
  // fsync the local file and its directory before returning OK.
  bool durable = false;
  // Transient failures are retried; a retry fetches only the ranges not yet
  // complete.
  RetryPolicy retry{};
  RetryFn on_retry = nullptr;
};

// What a transfer did.
struct TransferResult {
  uint64_t bytes = 0;    // size of the file now at the destination
  uint64_t sent = 0;     // bytes that crossed the network in this call
  uint64_t reused = 0;   // bytes a resume found intact and did not send again
  int retries = 0;       // transient failures retried
};

}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_TRANSFER_H_
