// overlapd.v1.IoService on gRPC's callback API.
#ifndef OVERLAPD_SERVICE_IO_SERVICE_H_
#define OVERLAPD_SERVICE_IO_SERVICE_H_

#include "overlapd/v1/overlapd.grpc.pb.h"
#include "service/event_stream.h"

namespace overlapd {

// Execute and Session run batches through EventStream; GetCapabilities
// reports the limits. The RPCs of detached jobs and subscriptions are not
// overridden yet and answer UNIMPLEMENTED.
class IoServiceImpl final : public v1::IoService::CallbackService {
 public:
  explicit IoServiceImpl(ServiceContext& ctx) : ctx_(ctx) {}

  grpc::ServerWriteReactor<v1::EventBatch>* Execute(
      grpc::CallbackServerContext* context, const v1::Batch* batch) override;
  grpc::ServerBidiReactor<v1::Batch, v1::EventBatch>* Session(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* GetCapabilities(
      grpc::CallbackServerContext* context,
      const v1::GetCapabilitiesRequest* request,
      v1::Capabilities* response) override;

 private:
  ServiceContext& ctx_;
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_IO_SERVICE_H_
