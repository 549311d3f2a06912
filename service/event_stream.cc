#include "service/event_stream.h"

#include <algorithm>
#include <chrono>

#include "absl/synchronization/mutex.h"
#include "overlapd/v1/event_batch_wire.h"
#include "service/convert.h"
#include "service/placement_check.h"
#include "service/status_util.h"

namespace overlapd {

uint64_t MonotonicNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

EventStream::EventStream(ServiceContext& ctx, StreamRpc rpc)
    : ctx_(ctx),
      limits_(ctx.config->limits),
      rpc_(rpc),
      read_credit_(ctx.config->limits.max_inflight_read_bytes, ctx.read_budget) {
  ctx_.metrics->streams(rpc_).Increment();
  if (!ctx_.streams.Add(this)) stopping_.store(true);
}

void EventStream::Done() {
  {
    absl::MutexLock lock(&call_mu_);
    call_ = nullptr;  // the context goes with the call
  }
  ctx_.streams.Remove(this);
  Unref();
}

void EventStream::CancelOps() {
  {
    absl::MutexLock lock(&mu_);
    // Under mu_: a batch leaves the list (and is freed) only under it.
    for (BatchRun* b = live_batches_; b != nullptr; b = b->next) b->Cancel(ctx_.engine);
  }
  // Ops parked for credit must run to see their cancel.
  read_credit_.Open();
}

void EventStream::CancelIfStalled(uint64_t now_ns, uint64_t stall_ns) {
  if (!WriteStalled(now_ns, stall_ns)) return;
  absl::MutexLock lock(&call_mu_);
  if (call_ == nullptr || cut_) return;
  cut_ = true;
  ctx_.metrics->streams_cut().Increment();
  // The stalled write then completes with ok = false, which aborts the
  // stream: its ops are cancelled and its read credit comes back.
  call_->TryCancel();
}

void EventStream::BeginShutdown() {
  if (input_closed_.load(std::memory_order_acquire)) return;
  {
    absl::MutexLock lock(&mu_);
    close_status_ = grpc::Status(
        grpc::StatusCode::UNAVAILABLE,
        "server shutting down: batches after the last BATCH_COMPLETE were not run");
  }
  stopping_.store(true, std::memory_order_release);
  CloseInput();
}

EventStream::~EventStream() {
  if (chunks_lent_) v1::EndChunkLoan(&out_);
  DropBacklog();
  ctx_.metrics->streams(rpc_).Decrement();
}

void EventStream::Unref() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

bool EventStream::HasOpCredit(uint32_t ops) const {
  int64_t unsent = ops_unsent_.load(std::memory_order_acquire);
  return unsent == 0 || unsent + ops <= limits_.max_inflight_ops;
}

absl::StatusOr<BufferPins> EventStream::CheckBatch(const v1::Batch& batch,
                                                   const Grant* grant) const {
  OVERLAPD_RETURN_IF_ERROR(ValidateBatch(batch, limits_));
  OVERLAPD_RETURN_IF_ERROR(CheckPlacement(batch, ctx_.placement, ctx_.metrics));
  OVERLAPD_RETURN_IF_ERROR(AuthorizeBatch(batch, grant));
  return ResolveBuffers(ctx_.buffers, batch, grant);
}

void EventStream::SubmitBatch(v1::Batch& batch, const std::string& base, BufferPins pins) {
  last_batch_ns_.store(MonotonicNs(), std::memory_order_release);
  uint64_t id = ctx_.next_job_id.fetch_add(1, std::memory_order_relaxed);
  if (batch.ops_size() == 0) {
    EventNode* done = new EventNode;
    done->event.set_job_id(id);
    done->event.set_tag(batch.tag());
    done->event.set_type(v1::BATCH_COMPLETE);
    Push(done);
    Kick();
    return;
  }
  auto* b = new BatchRun(id, batch, limits_, this, &read_credit_,
                         /*deliver_data=*/true, base, std::move(pins));
  // Count every op before the first can complete, so the counts never touch
  // zero half way through a batch.
  ops_live_.fetch_add(b->size(), std::memory_order_acq_rel);
  ops_unsent_.fetch_add(b->size(), std::memory_order_acq_rel);
  refs_.fetch_add(b->size(), std::memory_order_relaxed);
  {
    absl::MutexLock lock(&mu_);
    b->next = live_batches_;
    if (live_batches_ != nullptr) live_batches_->prev = b;
    live_batches_ = b;
  }
  b->Start(ctx_.engine);
}

void EventStream::ShutdownIfIdle(uint64_t now_ns, uint64_t idle_ns) {
  if (ops_live_.load(std::memory_order_acquire) != 0) return;
  if (now_ns - last_batch_ns_.load(std::memory_order_acquire) < idle_ns) return;
  BeginShutdown();
}

void EventStream::RefuseBatch(uint64_t tag, const absl::Status& status) {
  last_batch_ns_.store(MonotonicNs(), std::memory_order_release);
  EventNode* node = new EventNode;
  v1::Event& e = node->event;
  e.set_job_id(ctx_.next_job_id.fetch_add(1, std::memory_order_relaxed));
  e.set_tag(tag);
  e.set_type(v1::BATCH_COMPLETE);
  e.mutable_error()->set_code(static_cast<int>(status.code()));
  e.mutable_error()->set_message(std::string(status.message()));
  if (std::optional<v1::Redirect> redirect = RedirectOf(status)) {
    *e.mutable_error()->mutable_redirect() = *std::move(redirect);
  }
  Push(node);
  Kick();
}

void EventStream::CloseInput() {
  input_closed_.store(true, std::memory_order_release);
  Kick();
}

void EventStream::Abort(const grpc::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    if (aborted_.load(std::memory_order_relaxed)) return;
    abort_status_ = status;
    aborted_.store(true, std::memory_order_release);
  }
  CancelOps();
  Kick();
}

EventStream::EventNode* EventStream::NewEvent(const OpRun& run) {
  EventNode* node = new EventNode;
  FillOpIdentity(run, &node->event);
  return node;
}

void EventStream::OnReadChunk(io::Op& op, uint64_t offset, std::string data,
                              uint32_t crc32c) {
  EventNode* node = NewEvent(RunOf(op));
  v1::Event& e = node->event;
  e.set_type(v1::READ_CHUNK);
  e.set_offset(offset);
  e.set_bytes(data.size());
  e.set_crc32c(crc32c);
  node->data_bytes = data.size();
  e.set_data(std::move(data));
  Push(node);
  KickFromEngine();
}

// A chunk that landed in the client's shared buffer: the event says where,
// and holds no bytes (nor read credit).
void EventStream::OnBufferChunk(io::Op& op, uint64_t offset, uint64_t bytes,
                                uint32_t crc32c) {
  EventNode* node = NewEvent(RunOf(op));
  v1::Event& e = node->event;
  e.set_type(v1::READ_CHUNK);
  e.set_offset(offset);
  e.set_bytes(bytes);
  e.set_crc32c(crc32c);
  Push(node);
  KickFromEngine();
}

void EventStream::OnComplete(io::Op& op) {
  OpRun& run = RunOf(op);
  BatchRun* b = run.batch;
  EventNode* node = NewEvent(run);
  FillCompletion(op, &node->event);
  node->completions = 1;
  ctx_.metrics->RecordOp(op);
  Push(node);

  if (b->OpFinished()) {
    EventNode* done = new EventNode;
    FillBatchComplete(*b, &done->event);
    Push(done);
    {
      absl::MutexLock lock(&mu_);
      if (b->prev != nullptr) b->prev->next = b->next;
      if (b->next != nullptr) b->next->prev = b->prev;
      if (live_batches_ == b) live_batches_ = b->next;
    }
    delete b;  // `op` and `run` lived in it: not touched below
  }
  ops_live_.fetch_sub(1, std::memory_order_acq_rel);
  KickFromEngine();
  Unref();  // the last act: may delete this
}

void EventStream::Push(EventNode* node) { pushed_.Push(node); }

void EventStream::KickFromEngine() {
  if (ctx_.writer_pool == nullptr) return Kick();
  // One post at a time: events pushed before RunHandoff clears the flag
  // are taken by its Kick, those after post again.
  if (handoff_posted_.exchange(true, std::memory_order_acq_rel)) return;
  Ref();  // until RunHandoff returns
  ctx_.writer_pool->Post(this);
}

void EventStream::RunHandoff() {
  handoff_posted_.store(false, std::memory_order_release);
  Kick();
  Unref();  // may delete this
}

void EventStream::TakeList() {
  EventNode* last = nullptr;
  EventNode* fifo = pushed_.TakeAll(&last);
  if (fifo == nullptr) return;
  if (backlog_tail_ == nullptr) {
    backlog_head_ = fifo;
  } else {
    backlog_tail_->next = fifo;
  }
  backlog_tail_ = last;
}

void EventStream::DropBacklog() {
  TakeList();
  uint64_t bytes = 0;
  while (backlog_head_ != nullptr) {
    EventNode* next = backlog_head_->next;
    bytes += backlog_head_->data_bytes;
    delete backlog_head_;
    backlog_head_ = next;
  }
  backlog_tail_ = nullptr;
  // Their credit goes back: the server-wide budget above it outlives this
  // stream and would otherwise shrink for good.
  if (bytes != 0) read_credit_.Release(bytes);
}

bool EventStream::HasWork() const {
  if (!pushed_.empty()) return true;
  bool idle = ops_live_.load(std::memory_order_acquire) == 0;
  return idle && (input_closed_.load(std::memory_order_acquire) ||
                  aborted_.load(std::memory_order_acquire));
}

bool EventStream::Step() {
  if (finished_) return true;
  const bool idle = ops_live_.load(std::memory_order_acquire) == 0;
  if (aborted_.load(std::memory_order_acquire)) {
    // Nobody will read these events; what matters is that every op is
    // released by the engine before the call ends.
    DropBacklog();
    if (!idle) return false;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      status = abort_status_;
    }
    finished_ = true;
    FinishCall(status);
    return true;
  }
  const bool input_closed = input_closed_.load(std::memory_order_acquire);
  TakeList();
  if (backlog_head_ != nullptr) {
    out_.Clear();
    out_bytes_ = 0;
    out_completions_ = 0;
    EventLog& log = *ctx_.log;
    const bool logged = log.WantsSessionEvents();
    while (backlog_head_ != nullptr &&
           static_cast<uint32_t>(out_.events_size()) < limits_.max_events_per_message &&
           out_bytes_ < limits_.max_event_bytes_per_message) {
      EventNode* node = backlog_head_;
      backlog_head_ = node->next;
      out_bytes_ += node->data_bytes;
      out_completions_ += node->completions;
      // Seqs are given here, in the order the client will see the events,
      // so that they increase strictly along every stream.
      if (logged) {
        log.Append(&node->event, /*session=*/true, owner_);
      } else {
        node->event.set_seq(log.NextSeq());
      }
      out_.mutable_events()->Add(std::move(node->event));
      delete node;
    }
    if (backlog_head_ == nullptr) backlog_tail_ = nullptr;
    // Read chunks go to gRPC as slices of their own buffers, not copied into
    // the message; the buffers come back to the engine once sent. Lent the
    // first time a message could hold one, so one-op calls never register.
    if (!chunks_lent_ && out_bytes_ >= v1::kLentChunkMinBytes) {
      auto recycle = ctx_.engine->ChunkRecycler();
      if (!recycle) recycle = [](std::string) {};
      v1::LendChunks(&out_, std::move(recycle));
      chunks_lent_ = true;
    }
    MarkWriteStarted();
    StartWriteMessage(&out_);
    return true;
  }
  if (input_closed && idle) {
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      status = close_status_;
    }
    finished_ = true;
    FinishCall(status);
    return true;
  }
  return false;
}

void EventStream::WriteDone(bool ok) {
  // The message is on the wire (or dropped): its bytes and ops no longer
  // count against this stream.
  if (out_bytes_ != 0) read_credit_.Release(out_bytes_);
  ops_unsent_.fetch_sub(out_completions_, std::memory_order_acq_rel);
  out_bytes_ = 0;
  out_completions_ = 0;
  out_.Clear();  // its chunks went with the serialised message
  if (!ok) {
    Abort(grpc::Status(grpc::StatusCode::CANCELLED, "stream closed by the client"));
  }
  CreditFreed();
  StreamWriter::WriteDone();
}

}  // namespace overlapd
