#include "service/call_observer.h"

#include <atomic>

#include "overlapd/v1/overlapd.pb.h"
#include "service/event_stream.h"

namespace overlapd {
namespace {

using grpc::experimental::InterceptionHookPoints;

class CallObserver final : public grpc::experimental::Interceptor {
 public:
  CallObserver(AccessLog* log, grpc::experimental::ServerRpcInfo* info)
      : log_(log),
        info_(info),
        method_path_(info->method() == nullptr ? "" : info->method()),
        method_(MethodIndex(method_path_)),
        start_ns_(MonotonicNs()) {}

  // A call whose status was never sent (the server went away under it) is
  // still counted, as CANCELLED; the context may be gone, so no peer.
  ~CallObserver() override {
    if (ended_) return;
    CallFacts f = Facts(nullptr);
    f.code = static_cast<int>(grpc::StatusCode::CANCELLED);
    f.message = "the call ended without a status";
    log_->CallEnded(f);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
    if (m->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      Received(m->GetRecvMessage());
    }
    if (m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      Sending(m);
    }
    if (m->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = m->GetSendStatus();
      const std::string message = status.error_message();  // a copy, not a reference
      CallFacts f = Facts(info_->server_context());
      f.code = static_cast<int>(status.error_code());
      f.message = message;
      ended_ = true;
      log_->CallEnded(f);
    }
    m->Proceed();
  }

 private:
  const MethodInfo& method() const { return MethodTable()[method_]; }

  void Received(const void* message) {
    if (message == nullptr) return;  // end of the client's stream
    const MethodInfo& info = method();
    if (info.request_bytes != nullptr) {
      bytes_in_.fetch_add(info.request_bytes(message), std::memory_order_relaxed);
    }
    if (info.batch_in) {
      const auto* batch = static_cast<const v1::Batch*>(message);
      ops_.fetch_add(static_cast<uint64_t>(batch->ops_size()), std::memory_order_relaxed);
      batches_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void Sending(grpc::experimental::InterceptorBatchMethods* m) {
    if (method().events_out) {
      const auto* out = static_cast<const v1::EventBatch*>(m->GetSendMessage());
      if (out != nullptr) Scan(*out);
    }
    const grpc::ByteBuffer* wire = m->GetSerializedSendMessage();
    if (wire != nullptr) bytes_out_.fetch_add(wire->Length(), std::memory_order_relaxed);
    messages_out_.fetch_add(1, std::memory_order_relaxed);
  }

  // Counts OP_FAILED events and logs each refused batch (a BATCH_COMPLETE
  // with an error: only EventStream::RefuseBatch makes one).
  void Scan(const v1::EventBatch& out) {
    uint64_t failed = 0;
    for (const v1::Event& e : out.events()) {
      if (e.type() == v1::OP_FAILED) {
        ++failed;
      } else if (e.type() == v1::BATCH_COMPLETE && e.has_error() && e.error().code() != 0) {
        refused_.fetch_add(1, std::memory_order_relaxed);
        log_->BatchRefused(Facts(info_->server_context()), e.tag(), e.error().code(),
                           e.error().message());
      }
    }
    if (failed != 0) failed_ops_.fetch_add(failed, std::memory_order_relaxed);
  }

  CallFacts Facts(grpc::ServerContextBase* context) const {
    CallFacts f;
    f.method = method_;
    f.method_path = method_path_;
    f.context = context;
    f.start_ns = start_ns_;
    f.end_ns = MonotonicNs();
    f.ops = ops_.load(std::memory_order_relaxed);
    f.batches = batches_.load(std::memory_order_relaxed);
    f.bytes_in = bytes_in_.load(std::memory_order_relaxed);
    f.bytes_out = bytes_out_.load(std::memory_order_relaxed);
    f.messages_out = messages_out_.load(std::memory_order_relaxed);
    f.failed_ops = failed_ops_.load(std::memory_order_relaxed);
    f.refused_batches = refused_.load(std::memory_order_relaxed);
    return f;
  }

  AccessLog* const log_;
  grpc::experimental::ServerRpcInfo* const info_;
  // The method's name lives as long as the server (a registered method's).
  const char* const method_path_;
  const int method_;
  const uint64_t start_ns_;
  bool ended_ = false;  // the status went out (set once, on the status' thread)
  std::atomic<uint64_t> ops_{0}, batches_{0}, bytes_in_{0};  // receive side
  std::atomic<uint64_t> bytes_out_{0}, messages_out_{0}, failed_ops_{0}, refused_{0};  // send
};

}  // namespace

grpc::experimental::Interceptor* CallObserverFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new CallObserver(log_, info);
}

}  // namespace overlapd
