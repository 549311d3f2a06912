#include "service/batch_run.h"

#include "service/convert.h"
#include "service/wire_names.h"

namespace overlapd {

BatchRun::BatchRun(uint64_t id, v1::Batch& batch, const Limits& limits,
                   io::OpSink* sink, io::ReadCredit* credit, bool deliver_data,
                   const std::string& base, BufferPins pins)
    : id_(id),
      tag_(batch.tag()),
      size_(static_cast<uint32_t>(batch.ops_size())),
      remaining_(size_),
      ops_(new OpRun[size_]),
      chain_head_(new bool[size_]),
      pins_(std::move(pins)) {
  for (uint32_t i = 0; i < size_; ++i) {
    OpRun& run = ops_[i];
    run.batch = this;
    run.index = i;
    run.tag = batch.ops(i).tag();
    ToEngineOp(*batch.mutable_ops(i), limits, &run.op);
    run.op.credit = credit;
    run.op.sink = sink;
    run.op.user = &run;
    run.op.deliver_data = deliver_data;
    run.op.base = FromWireName(base);
    if (i < pins_.size() && pins_[i].buffer != nullptr) {
      run.op.buffer = pins_[i].data;
      run.op.buffer_bytes = pins_[i].bytes;
    }
    chain_head_[i] = i == 0 || !batch.ops(i - 1).link_next();
    if (i > 0 && !chain_head_[i]) ops_[i - 1].op.link_next = &run.op;
  }
}

void BatchRun::Start(io::Engine* engine) {
  // Read the heads first: once submitted, an op may complete and the last
  // completion may free this BatchRun.
  std::vector<io::Op*> heads;
  heads.reserve(size_);
  for (uint32_t i = 0; i < size_; ++i) {
    if (chain_head_[i]) heads.push_back(&ops_[i].op);
  }
  for (io::Op* op : heads) engine->Submit(op);
}

void BatchRun::Resume(io::Engine* engine, const std::vector<bool>& run,
                      uint32_t owner_completions) {
  std::vector<io::Op*> heads;
  uint32_t running = 0;
  for (uint32_t i = 0; i < size_; ++i) {
    if (!run[i]) continue;
    ++running;
    if (chain_head_[i] || !run[i - 1]) heads.push_back(&ops_[i].op);
    if (i + 1 < size_ && !run[i + 1]) ops_[i].op.link_next = nullptr;
  }
  remaining_.store(running + owner_completions + 1, std::memory_order_release);
  for (io::Op* op : heads) engine->Submit(op);
}

void BatchRun::Cancel(io::Engine* engine) {
  for (uint32_t i = 0; i < size_; ++i) engine->Cancel(&ops_[i].op);
}

void BatchRun::LiveProgress(uint64_t* read, uint64_t* written) const {
  for (uint32_t i = 0; i < size_; ++i) {
    const OpRun& run = ops_[i];
    if (run.done.load(std::memory_order_acquire)) continue;
    uint64_t n = run.op.progress_bytes();
    if (io::TypeInfo(run.op.type).reads_file) *read += n;
    if (io::TypeInfo(run.op.type).writes_file) *written += n;
  }
}

void FillOpIdentity(const OpRun& run, v1::Event* event) {
  event->set_job_id(run.batch->id());
  event->set_tag(run.tag);
  event->set_op_index(run.index);
  event->set_path(ToWireName(run.op.path));
}

void FillBatchComplete(const BatchRun& batch, v1::Event* event) {
  event->set_job_id(batch.id());
  event->set_tag(batch.tag());
  event->set_type(v1::BATCH_COMPLETE);
  event->set_count(batch.size());
}

}  // namespace overlapd
