#include "service/io_service.h"

#include "service/convert.h"
#include "service/status_util.h"

namespace overlapd {

namespace {

// Execute: one batch in, its events out, then the call ends.
class ExecuteReactor final : public grpc::ServerWriteReactor<v1::EventBatch>,
                             public EventStream {
 public:
  ExecuteReactor(ServiceContext& ctx, const v1::Batch* batch)
      : EventStream(ctx, StreamRpc::kExecute) {
    absl::Status valid = ValidateBatch(*batch, limits_);
    if (!valid.ok()) {
      Abort(ToGrpc(valid));
      return;
    }
    // The request lives until the call ends and nothing else reads it:
    // moving write payloads out of it saves a copy of up to max_op_bytes.
    SubmitBatch(*const_cast<v1::Batch*>(batch));
    CloseInput();
  }

  void OnWriteDone(bool ok) override { WriteDone(ok); }
  void OnCancel() override {
    Abort(grpc::Status(grpc::StatusCode::CANCELLED, "call cancelled"));
  }
  void OnDone() override { Unref(); }

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
  explicit SessionReactor(ServiceContext& ctx)
      : EventStream(ctx, StreamRpc::kSession) {
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed, or the call broke
      CloseInput();
      return;
    }
    absl::Status valid = ValidateBatch(in_, limits_);
    if (!valid.ok()) {
      RefuseBatch(in_.tag(), valid);
      in_.Clear();
      StartRead(&in_);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
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
  void OnDone() override { Unref(); }

 private:
  void SubmitAndReadNext() {
    SubmitBatch(in_);
    in_.Clear();
    StartRead(&in_);
  }
  void CreditFreed() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
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

  v1::Batch in_;
  bool waiting_ = false;  // under mu_
};

}  // namespace

grpc::ServerWriteReactor<v1::EventBatch>* IoServiceImpl::Execute(
    grpc::CallbackServerContext* context, const v1::Batch* batch) {
  return new ExecuteReactor(ctx_, batch);
}

grpc::ServerBidiReactor<v1::Batch, v1::EventBatch>* IoServiceImpl::Session(
    grpc::CallbackServerContext* context) {
  return new SessionReactor(ctx_);
}

grpc::ServerUnaryReactor* IoServiceImpl::GetCapabilities(
    grpc::CallbackServerContext* context,
    const v1::GetCapabilitiesRequest* request, v1::Capabilities* response) {
  const Limits& l = ctx_.config->limits;
  const io::Engine& engine = *ctx_.engine;
  response->set_server_version(OVERLAPD_VERSION);
  response->set_engine(std::string(engine.name()));
  response->set_workers(static_cast<uint32_t>(engine.workers()));
  response->set_chunk_bytes(engine.options().chunk_bytes);
  response->set_max_ops_per_batch(l.max_ops_per_batch);
  response->set_max_op_bytes(l.max_op_bytes);
  response->set_max_read_bytes(l.max_read_bytes);
  response->set_max_message_bytes(l.max_message_bytes);
  response->set_max_inflight_ops_per_stream(l.max_inflight_ops);
  response->set_max_inflight_read_bytes_per_stream(l.max_inflight_read_bytes);
  response->set_max_list_entries(l.max_list_entries);
  response->set_max_events_per_message(l.max_events_per_message);
  for (const auto& f : engine.features()) response->add_engine_features(f);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace overlapd
