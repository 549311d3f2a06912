// overlapd.v1.IoService on gRPC's callback API.
#ifndef OVERLAPD_SERVICE_IO_SERVICE_H_
#define OVERLAPD_SERVICE_IO_SERVICE_H_

#include "overlapd/v1/overlapd.grpc.pb.h"
#include "service/event_stream.h"
#include "service/jobs.h"

namespace overlapd {

// Execute and Session run batches through EventStream; Submit and the job
// calls go to the JobManager; Subscribe follows the EventLog;
// GetCapabilities reports the limits.
class IoServiceImpl final : public v1::IoService::CallbackService {
 public:
  IoServiceImpl(ServiceContext& ctx, JobManager& jobs) : ctx_(ctx), jobs_(jobs) {}

  grpc::ServerWriteReactor<v1::EventBatch>* Execute(
      grpc::CallbackServerContext* context, const v1::Batch* batch) override;
  grpc::ServerBidiReactor<v1::Batch, v1::EventBatch>* Session(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* GetCapabilities(
      grpc::CallbackServerContext* context,
      const v1::GetCapabilitiesRequest* request,
      v1::Capabilities* response) override;
  grpc::ServerWriteReactor<v1::EventBatch>* Subscribe(
      grpc::CallbackServerContext* context,
      const v1::SubscribeRequest* request) override;
  grpc::ServerUnaryReactor* Submit(grpc::CallbackServerContext* context,
                                   const v1::Batch* request,
                                   v1::Job* response) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context,
                                   const v1::GetJobRequest* request,
                                   v1::Job* response) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* context,
                                      const v1::CancelJobRequest* request,
                                      v1::Job* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const v1::ListJobsRequest* request,
                                     v1::ListJobsResponse* response) override;
  grpc::ServerUnaryReactor* BeginUpload(grpc::CallbackServerContext* context,
                                        const v1::BeginUploadRequest* request,
                                        v1::Upload* response) override;
  grpc::ServerUnaryReactor* GetPlacement(grpc::CallbackServerContext* context,
                                         const v1::GetPlacementRequest* request,
                                         v1::Placement* response) override;

 private:
  // RESOURCE_EXHAUSTED when --max-streams streaming calls are open.
  absl::Status StreamRoom() const;
  // The call's grant (null: authentication off), or UNAUTHENTICATED.
  absl::StatusOr<std::shared_ptr<const Grant>> Authenticate(
      const grpc::CallbackServerContext* context) const;
  // Authenticates and checks that the grant holds `scope`; returns the
  // grant's path prefix ("" without one).
  absl::StatusOr<std::string> Authorize(const grpc::CallbackServerContext* context,
                                        Scope scope, const char* what) const;

  ServiceContext& ctx_;
  JobManager& jobs_;
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_IO_SERVICE_H_
