// The calls that run batches: Execute (one batch) and Session (pipelined
// batches), both on EventStream; and the reactor of a streaming call
// refused before it starts.
#ifndef OVERLAPD_SERVICE_BATCH_REACTORS_H_
#define OVERLAPD_SERVICE_BATCH_REACTORS_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "overlapd/v1/overlapd.pb.h"
#include "service/auth.h"
#include "service/convert.h"
#include "service/event_stream.h"
#include "service/status_util.h"

namespace overlapd {


// Execute: one batch in, its events out, then the call ends.
class ExecuteReactor final : public grpc::ServerWriteReactor<v1::EventBatch>,
                             public EventStream {
 public:
  ExecuteReactor(ServiceContext& ctx, grpc::CallbackServerContext* call, const Grant* grant,
                 const v1::Batch* batch)
      : EventStream(ctx, StreamRpc::kExecute) {
    SetCall(call);
    SetOwner(PathPrefixOf(grant));
    absl::StatusOr<BufferPins> pins = CheckBatch(*batch, grant);
    if (!pins.ok()) {
      Abort(ToGrpc(pins.status()));
      return;
    }
    // The request lives until the call ends and nothing else reads it:
    // moving write payloads out of it saves a copy of up to max_op_bytes.
    SubmitBatch(*const_cast<v1::Batch*>(batch), PathPrefixOf(grant), *std::move(pins));
    CloseInput();
  }

  void OnWriteDone(bool ok) override { WriteDone(ok); }
  void OnCancel() override {
    Abort(grpc::Status(grpc::StatusCode::CANCELLED, "call cancelled"));
  }
  void OnDone() override { Done(); }

 private:
  void StartWriteMessage(const v1::EventBatch* message) override {
    StartWrite(message);
  }
  void FinishCall(const grpc::Status& status) override { Finish(status); }
};

// Session: batches in, events out, pipelined. A batch that breaks a rule is
// answered with a BATCH_COMPLETE carrying the error and the session goes on.
// Reading stops while the in-flight op limit is reached: the batch just
// read waits in `in_` until credit frees, and no StartRead is issued.
class SessionReactor final
    : public grpc::ServerBidiReactor<v1::Batch, v1::EventBatch>,
      public EventStream {
 public:
  SessionReactor(ServiceContext& ctx, grpc::CallbackServerContext* call,
                 std::shared_ptr<const Grant> grant)
      : EventStream(ctx, StreamRpc::kSession), grant_(std::move(grant)) {
    SetCall(call);
    SetOwner(PathPrefixOf(grant_.get()));
    if (stopping()) {
      BeginShutdown();
      return;
    }
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    // !ok: the client half-closed, or the call broke. A batch read while
    // the server stops is not run; the call's UNAVAILABLE status says so.
    if (!ok || stopping()) {
      CloseInput();
      return;
    }
    absl::StatusOr<BufferPins> pins = CheckBatch(in_, grant_.get());
    if (!pins.ok()) {
      RefuseBatch(in_.tag(), pins.status());
      in_.Clear();
      StartRead(&in_);
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      pins_ = *std::move(pins);
    }
    {
      absl::MutexLock lock(&mu_);
      if (!HasOpCredit(static_cast<uint32_t>(in_.ops_size()))) {
        waiting_ = true;  // CreditFreed resumes
        return;
      }
    }
    SubmitAndReadNext();
  }

  void OnWriteDone(bool ok) override { WriteDone(ok); }
  void OnCancel() override {
    Abort(grpc::Status(grpc::StatusCode::CANCELLED, "call cancelled"));
  }
  void OnDone() override { Done(); }

 private:
  void SubmitAndReadNext() {
    BufferPins pins;
    {
      absl::MutexLock lock(&mu_);
      pins = std::move(pins_);
    }
    SubmitBatch(in_, PathPrefixOf(grant_.get()), std::move(pins));
    in_.Clear();
    StartRead(&in_);
  }
  void CreditFreed() override {
    {
      absl::MutexLock lock(&mu_);
      if (!waiting_ || !HasOpCredit(static_cast<uint32_t>(in_.ops_size()))) {
        return;
      }
      waiting_ = false;
    }
    SubmitAndReadNext();
  }
  void StartWriteMessage(const v1::EventBatch* message) override {
    StartWrite(message);
  }
  void FinishCall(const grpc::Status& status) override { Finish(status); }

  const std::shared_ptr<const Grant> grant_;  // null: no authentication
  v1::Batch in_;
  bool waiting_ ABSL_GUARDED_BY(mu_) = false;
  BufferPins pins_ ABSL_GUARDED_BY(mu_);  // the buffers of the batch in `in_`
};

// A streaming call refused before it starts (authentication): ends at once
// with `status`.
template <typename Reactor>
class RefusedStream final : public Reactor {
 public:
  explicit RefusedStream(const absl::Status& status) { this->Finish(ToGrpc(status)); }
  void OnDone() override { delete this; }
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_BATCH_REACTORS_H_
