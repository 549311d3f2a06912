// The ops of one batch as the engine runs them, for every owner of batches:
// streams (Execute, Session) and detached jobs.
#ifndef OVERLAPD_SERVICE_BATCH_RUN_H_
#define OVERLAPD_SERVICE_BATCH_RUN_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "ioengine/engine.h"
#include "overlapd/v1/overlapd.pb.h"
#include "service/buffer_registry.h"
#include "service/config.h"

namespace overlapd {


class BatchRun;

// One op of a batch; `op.user` points back here.
struct OpRun {
  io::Op op;
  BatchRun* batch = nullptr;
  uint32_t index = 0;
  uint64_t tag = 0;
  // Set by the owner when the op's completion is counted; until then its
  // progress_bytes() are live progress.
  std::atomic<bool> done{false};
};

// Owns the engine ops of a validated batch. Each op reports to `sink`;
// link_next chains are wired so the engine runs them in order.
//
//   auto run = std::make_unique<BatchRun>(id, batch, limits, sink, credit, true);
//   run->Start(engine);
//   ... in sink->OnComplete(op):  if (Run(op).batch->OpFinished()) { last op }
class BatchRun {
 public:
  // Moves write payloads out of `batch`. `deliver_data` false: reads
  // report size and CRC32C only (detached jobs). Every op resolves its
  // paths beneath `base` (io::Op::base: the token's prefix, "" = the root).
  // `pins` (BufferRegistry::Resolve) give ops their shared buffers, kept
  // mapped until the BatchRun is freed.
  BatchRun(uint64_t id, v1::Batch& batch, const Limits& limits,
           io::OpSink* sink, io::ReadCredit* credit, bool deliver_data,
           const std::string& base, BufferPins pins = {});

  // Submits the first op of every chain.
  void Start(io::Engine* engine);
  // After a restart: submits only the ops with `run[i]`, each chain from
  // its first such op (a link into an op not run is cut). The ops not run
  // count as complete, except `owner_completions` that the owner reports
  // itself through its sink; one more count is held for the owner, who
  // ends it with OpFinished() once it has (so that no completion frees the
  // BatchRun while it is still at work).
  void Resume(io::Engine* engine, const std::vector<bool>& run, uint32_t owner_completions);
  // Asks every op to stop (see Engine::Cancel). The caller keeps the
  // BatchRun alive for the call.
  void Cancel(io::Engine* engine);
  // Counts one op as complete; true for the last one.
  bool OpFinished() {
    return remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1;
  }

  // Bytes done so far by the ops not yet counted as done.
  void LiveProgress(uint64_t* read, uint64_t* written) const;

  uint64_t id() const { return id_; }
  uint64_t tag() const { return tag_; }
  OpRun& op(uint32_t i) { return ops_[i]; }
  uint32_t size() const { return size_; }

  // Intrusive list of an owner's live batches.
  BatchRun* prev = nullptr;
  BatchRun* next = nullptr;

 private:
  const uint64_t id_;
  const uint64_t tag_;
  const uint32_t size_;
  std::atomic<uint32_t> remaining_;
  std::unique_ptr<OpRun[]> ops_;
  std::unique_ptr<bool[]> chain_head_;
  const BufferPins pins_;
};

inline OpRun& RunOf(io::Op& op) { return *static_cast<OpRun*>(op.user); }

// Sets the fields every event of an op carries: job id, tag, op index, path.
void FillOpIdentity(const OpRun& run, v1::Event* event);
// The event that closes a batch or job.
void FillBatchComplete(const BatchRun& batch, v1::Event* event);

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_BATCH_RUN_H_
