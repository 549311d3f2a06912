// A gRPC server interceptor that watches every call in one place, for the
// access log and the per-RPC metrics (access_log.h, rpc_metrics.h), instead
// of code in each reactor.
//
// Per call it counts the messages and bytes received (and, for batch
// methods, the ops and batches), the messages and bytes sent, the OP_FAILED
// events sent, and the batches a Session refused (a BATCH_COMPLETE that
// carries an error: each is logged as it goes out); when the status is
// sent it hands the facts to the AccessLog.
//
// Cost: one small allocation per call and a few atomic adds per message;
// outgoing messages are serialised here rather than a moment later inside
// gRPC (GetSerializedSendMessage), so their size costs nothing extra; an
// EventBatch of a batch method is scanned once for its event types.
//
// Threads: gRPC runs Intercept for the receive and the send side of a
// stream concurrently (and StartWrite may run on an engine worker), so the
// counters are atomics; each counter has one writer side.
//
// Example:
//
//   std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> v;
//   v.push_back(std::make_unique<overlapd::CallObserverFactory>(&access_log));
//   builder.experimental().SetInterceptorCreators(std::move(v));
#ifndef OVERLAPD_SERVICE_CALL_OBSERVER_H_
#define OVERLAPD_SERVICE_CALL_OBSERVER_H_

#include <grpcpp/support/server_interceptor.h>

#include "service/access_log.h"

namespace overlapd {

class CallObserverFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // `log` must outlive the server.
  explicit CallObserverFactory(AccessLog* log) : log_(log) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  AccessLog* const log_;
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_CALL_OBSERVER_H_
