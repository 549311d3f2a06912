// The machinery shared by every streaming call that runs batches (Execute,
// Session): it turns engine completions into events, batches them into
// EventBatch messages with one write in flight, applies back-pressure, and
// ends the call once nothing can still touch it.
#ifndef OVERLAPD_SERVICE_EVENT_STREAM_H_
#define OVERLAPD_SERVICE_EVENT_STREAM_H_

#include <grpcpp/support/status.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "ioengine/engine.h"
#include "ioengine/mpsc_stack.h"
#include "overlapd/v1/overlapd.pb.h"
#include "service/auth.h"
#include "service/batch_run.h"
#include "service/config.h"
#include "service/event_log.h"
#include "service/metrics.h"
#include "service/service_context.h"
#include "service/stream_registry.h"
#include "service/stream_writer.h"
#include "service/writer_pool.h"

namespace overlapd {


// One stream's event pipeline.
//
// Threads: engine workers call OnReadChunk/OnComplete (push an event on a
// lock-free list, then Kick); gRPC threads call the reactor hooks. Whoever
// holds the writer token (StreamWriter) is the only one that drains the
// list, calls StartWrite or Finish, so there is one write in flight and
// Finish runs once; the token passes to OnWriteDone while a write is out.
//
// Back-pressure: read chunks are charged to `read_credit_` until the message
// carrying them is written, and each op's completion counts against the
// in-flight op limit until its event is written. A slow reader stalls
// StartWrite, credit runs out, the engine parks reads, and a Session stops
// reading batches.
//
// Lifetime: one reference for the reactor (dropped in OnDone) and one per op
// in the engine (dropped as the last act of its OnComplete). Finish is
// called only when no op is left, and the object is deleted on the last
// reference, so no engine thread can touch a freed reactor.
class EventStream : public io::OpSink,
                    public Drainable,
                    public StreamWriter,
                    private Handoff {
 public:
  EventStream(ServiceContext& ctx, StreamRpc rpc);

  void OnReadChunk(io::Op& op, uint64_t offset, std::string data,
                   uint32_t crc32c) final;
  void OnBufferChunk(io::Op& op, uint64_t offset, uint64_t bytes, uint32_t crc32c) final;
  void OnComplete(io::Op& op) final;

  // Drainable: a stream still reading batches stops reading (ending with
  // UNAVAILABLE once its ops are done); one whose input is closed just
  // finishes its ops.
  void BeginShutdown() override;
  void CancelIfStalled(uint64_t now_ns, uint64_t stall_ns) override;
  void CancelOps() override;
  void ShutdownIfIdle(uint64_t now_ns, uint64_t idle_ns) override;
  void Ref() override { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() override;

 protected:
  ~EventStream() override;

  // The reactor's primitives.
  virtual void StartWriteMessage(const v1::EventBatch* message) = 0;
  virtual void FinishCall(const grpc::Status& status) = 0;
  // Called (on the writer) after a write released credit.
  virtual void CreditFreed() {}

  // The call, for CancelIfStalled; set by the reactor's constructor.
  void SetCall(grpc::CallbackServerContext* call) {
    absl::MutexLock lock(&call_mu_);  // no other thread yet: for the analysis
    call_ = call;
  }
  // The token prefix of the call (its events' owner in the event log); set
  // by the reactor's constructor before any event exists.
  void SetOwner(const std::string& prefix) {
    owner_ = std::make_shared<const std::string>(prefix);
  }
  // Runs the ops of a validated batch; its write data is moved out. Paths
  // resolve beneath `base` (the token's prefix; "" = the root).
  // `pins`: the shared buffers its ops name (BufferRegistry::Resolve).
  void SubmitBatch(v1::Batch& batch, const std::string& base, BufferPins pins = {});
  // ValidateBatch, AuthorizeBatch, then the batch's shared buffers: the
  // checks every batch passes before any IO.
  absl::StatusOr<BufferPins> CheckBatch(const v1::Batch& batch, const Grant* grant) const;
  // Emits BATCH_COMPLETE with `status` for a batch refused before any IO.
  void RefuseBatch(uint64_t tag, const absl::Status& status);
  // No more batches will come: the call ends once every op has completed
  // and every event is written.
  void CloseInput();
  // The client went away or a write failed: cancel every op, drop pending
  // events, end with `status` once the engine has let go of every op.
  void Abort(const grpc::Status& status);
  // Writer side of OnWriteDone.
  void WriteDone(bool ok);
  // The reactor's OnDone.
  void Done();
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  // Whether a batch of `ops` ops may start now under the in-flight limit.
  // One batch is always allowed when nothing is in flight.
  bool HasOpCredit(uint32_t ops) const;

  ServiceContext& ctx_;
  const Limits& limits_;
  absl::Mutex mu_;  // guards live_batches_ and the subclasses' read state

 private:
  struct EventNode {
    EventNode* next = nullptr;
    v1::Event event;
    uint64_t data_bytes = 0;  // read credit this event holds
    uint32_t completions = 0;  // op credit this event holds
  };

  EventNode* NewEvent(const OpRun& run);
  // Queues the event for the writer, which gives it its seq (and logs it,
  // if subscribers want session events) as it goes out.
  void Push(EventNode* node);
  // After an engine worker pushed: becomes the writer on this thread, or
  // with writer threads (writer_pool.h) posts the stream to one of them.
  void KickFromEngine();
  void RunHandoff() override;
  // Moves the lock-free list into the writer-owned backlog, oldest first.
  void TakeList();
  // StreamWriter: with the token, starts a write or finishes.
  bool Step() override;
  bool HasWork() const override;
  void DropBacklog();

  const StreamRpc rpc_;
  io::ReadCredit read_credit_;
  std::shared_ptr<const std::string> owner_;  // see SetOwner
  std::atomic<uint64_t> last_batch_ns_{0};  // MonotonicNs of the last batch received
  absl::Mutex call_mu_;  // orders CancelIfStalled before the end of Done
  grpc::CallbackServerContext* call_ ABSL_GUARDED_BY(call_mu_) = nullptr;  // null once Done ran
  bool cut_ ABSL_GUARDED_BY(call_mu_) = false;  // cancelled for stalling
  MpscStack<EventNode> pushed_;  // from any thread, to the writer
  std::atomic<int64_t> ops_live_{0};     // ops the engine still holds
  std::atomic<int64_t> ops_unsent_{0};   // ops whose completion is unwritten
  std::atomic<int64_t> refs_{1};
  std::atomic<bool> input_closed_{false};
  std::atomic<bool> aborted_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> handoff_posted_{false};  // queued on the writer pool
  grpc::Status close_status_ ABSL_GUARDED_BY(mu_);
  BatchRun* live_batches_ ABSL_GUARDED_BY(mu_) = nullptr;

  // Writer-token state.
  EventNode* backlog_head_ = nullptr;
  EventNode* backlog_tail_ = nullptr;
  v1::EventBatch out_;
  uint64_t out_bytes_ = 0;
  uint32_t out_completions_ = 0;
  bool chunks_lent_ = false;  // out_ is registered with v1::LendChunks
  bool finished_ = false;
  grpc::Status abort_status_;
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_EVENT_STREAM_H_
