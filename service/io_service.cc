#include "service/io_service.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "service/convert.h"
#include "service/placement_check.h"
#include "service/status_util.h"
#include "service/wire_names.h"
#include "service/batch_reactors.h"
#include "service/subscribe_reactor.h"

namespace overlapd {

namespace {

grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context,
                                      const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpc(status));
  return reactor;
}

template <typename T>
grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context,
                                      absl::StatusOr<T> result, T* response) {
  if (result.ok()) *response = std::move(*result);
  return FinishUnary(context, result.status());
}

}  // namespace

absl::Status IoServiceImpl::StreamRoom() const {
  const size_t open = ctx_.streams.size();
  if (open < ctx_.config->max_streams) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "the server has ", open, " streaming calls open, its limit (--max-streams); retry later"));
}

absl::StatusOr<std::shared_ptr<const Grant>> IoServiceImpl::Authenticate(
    const grpc::CallbackServerContext* context) const {
  if (ctx_.tokens == nullptr) return std::shared_ptr<const Grant>();
  return ctx_.tokens->Authenticate(*context);
}

absl::StatusOr<std::string> IoServiceImpl::Authorize(const grpc::CallbackServerContext* context,
                                                     Scope scope, const char* what) const {
  absl::StatusOr<std::shared_ptr<const Grant>> grant = Authenticate(context);
  if (!grant.ok()) return grant.status();
  if (*grant != nullptr) {
    absl::Status allowed = (*grant)->CheckScope(scope, what);
    if (!allowed.ok()) return allowed;
  }
  return PathPrefixOf(grant->get());
}

grpc::ServerWriteReactor<v1::EventBatch>* IoServiceImpl::Subscribe(
    grpc::CallbackServerContext* context, const v1::SubscribeRequest* request) {
  absl::StatusOr<std::shared_ptr<const Grant>> grant = Authenticate(context);
  absl::Status allowed = grant.status();
  if (allowed.ok() && *grant != nullptr) {
    // A token limited to a prefix sees only events under it.
    allowed = (*grant)->CheckScope(kScopeRead, "Subscribe");
    if (allowed.ok()) allowed = (*grant)->CheckPath(request->path_prefix(), "path_prefix");
  }
  if (allowed.ok()) allowed = StreamRoom();
  if (!allowed.ok()) return new RefusedStream<grpc::ServerWriteReactor<v1::EventBatch>>(allowed);
  return new SubscribeReactor(ctx_, *request, PathPrefixOf(grant->get()));
}

grpc::ServerUnaryReactor* IoServiceImpl::Submit(grpc::CallbackServerContext* context,
                                                const v1::Batch* request,
                                                v1::Job* response) {
  absl::StatusOr<std::shared_ptr<const Grant>> grant = Authenticate(context);
  absl::Status allowed = grant.status();
  if (allowed.ok()) allowed = AuthorizeBatch(*request, grant->get());
  if (!allowed.ok()) return FinishUnary(context, allowed);
  absl::StatusOr<BufferPins> pins = ResolveBuffers(ctx_.buffers, *request, grant->get());
  if (!pins.ok()) return FinishUnary(context, pins.status());
  // As in Execute: write payloads are moved out of the request, not copied.
  // The reply comes once the job is journaled (the journal's thread).
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  jobs_.Submit(*const_cast<v1::Batch*>(request), PathPrefixOf(grant->get()), *std::move(pins),
               [reactor, response](absl::StatusOr<v1::Job> job) {
                 if (job.ok()) *response = *std::move(job);
                 reactor->Finish(ToGrpc(job.status()));
               });
  return reactor;
}

grpc::ServerUnaryReactor* IoServiceImpl::GetJob(grpc::CallbackServerContext* context,
                                                const v1::GetJobRequest* request,
                                                v1::Job* response) {
  absl::StatusOr<std::string> prefix = Authorize(context, kScopeRead, "GetJob");
  if (!prefix.ok()) return FinishUnary(context, prefix.status());
  return FinishUnary(context, jobs_.Get(request->id(), *prefix), response);
}

grpc::ServerUnaryReactor* IoServiceImpl::CancelJob(grpc::CallbackServerContext* context,
                                                   const v1::CancelJobRequest* request,
                                                   v1::Job* response) {
  absl::StatusOr<std::string> prefix = Authorize(context, kScopeWrite, "CancelJob");
  if (!prefix.ok()) return FinishUnary(context, prefix.status());
  return FinishUnary(context, jobs_.Cancel(request->id(), *prefix), response);
}

grpc::ServerUnaryReactor* IoServiceImpl::ListJobs(grpc::CallbackServerContext* context,
                                                  const v1::ListJobsRequest* request,
                                                  v1::ListJobsResponse* response) {
  absl::StatusOr<std::string> prefix = Authorize(context, kScopeRead, "ListJobs");
  if (!prefix.ok()) return FinishUnary(context, prefix.status());
  return FinishUnary(context,
                     jobs_.List(request->page_size(), request->page_token(), *prefix),
                     response);
}

grpc::ServerUnaryReactor* IoServiceImpl::BeginUpload(grpc::CallbackServerContext* context,
                                                     const v1::BeginUploadRequest* request,
                                                     v1::Upload* response) {
  absl::StatusOr<std::shared_ptr<const Grant>> grant = Authenticate(context);
  absl::Status allowed = grant.status();
  if (allowed.ok()) allowed = CheckEntryPath(request->path(), "path");
  if (allowed.ok()) {
    allowed = CheckPathPlacement(request->path(), "path", ctx_.placement, ctx_.metrics);
  }
  if (allowed.ok() && *grant != nullptr) {
    allowed = (*grant)->CheckScope(kScopeWrite, "BeginUpload");
    if (allowed.ok()) allowed = (*grant)->CheckPath(request->path(), "path");
  }
  if (!allowed.ok()) return FinishUnary(context, allowed);
  // Minted from the name's bytes, as the sweep will find it on disk.
  std::string raw = FromWireName(request->path());
  while (!raw.empty() && raw.back() == '/') raw.pop_back();
  const std::string_view leaf = LeafOf(raw);
  std::string temp = raw.substr(0, raw.size() - leaf.size());  // "dir/" or ""
  temp += ctx_.temp_namer->Mint(leaf, io::TempKind::kUpload);
  response->set_temp_path(ToWireName(temp));
  response->set_grace_seconds(static_cast<uint64_t>(ctx_.config->upload_grace_s));
  return FinishUnary(context, absl::OkStatus());
}

grpc::ServerWriteReactor<v1::EventBatch>* IoServiceImpl::Execute(
    grpc::CallbackServerContext* context, const v1::Batch* batch) {
  absl::StatusOr<std::shared_ptr<const Grant>> grant = Authenticate(context);
  absl::Status allowed = grant.ok() ? StreamRoom() : grant.status();
  if (!allowed.ok()) return new RefusedStream<grpc::ServerWriteReactor<v1::EventBatch>>(allowed);
  return new ExecuteReactor(ctx_, context, grant->get(), batch);
}

grpc::ServerBidiReactor<v1::Batch, v1::EventBatch>* IoServiceImpl::Session(
    grpc::CallbackServerContext* context) {
  absl::StatusOr<std::shared_ptr<const Grant>> grant = Authenticate(context);
  absl::Status allowed = grant.ok() ? StreamRoom() : grant.status();
  if (!allowed.ok()) {
    return new RefusedStream<grpc::ServerBidiReactor<v1::Batch, v1::EventBatch>>(allowed);
  }
  return new SessionReactor(ctx_, context, *grant);
}

grpc::ServerUnaryReactor* IoServiceImpl::GetCapabilities(
    grpc::CallbackServerContext* context,
    const v1::GetCapabilitiesRequest* request, v1::Capabilities* response) {
  absl::StatusOr<std::shared_ptr<const Grant>> grant = Authenticate(context);
  if (!grant.ok()) return FinishUnary(context, grant.status());
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
  response->set_upload_grace_seconds(static_cast<uint64_t>(ctx_.config->upload_grace_s));
  response->set_max_read_buffer_bytes(ctx_.config->max_read_buffer_bytes);
  response->set_event_log_bytes(ctx_.config->event_log_bytes);
  response->set_max_streams(ctx_.config->max_streams);
  response->set_max_streams_per_connection(ctx_.config->max_streams_per_connection);
  response->set_write_stall_seconds(static_cast<uint32_t>(ctx_.config->write_stall_seconds));
  if (ctx_.buffers != nullptr) {
    response->set_buffer_lane(true);
    response->set_buffer_socket(ctx_.buffer_socket);
    response->set_max_buffer_bytes(ctx_.buffers->max_bytes());
  }
  return FinishUnary(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* IoServiceImpl::GetPlacement(grpc::CallbackServerContext* context,
                                                      const v1::GetPlacementRequest*,
                                                      v1::Placement* response) {
  absl::StatusOr<std::shared_ptr<const Grant>> grant = Authenticate(context);
  if (!grant.ok()) return FinishUnary(context, grant.status());
  if (ctx_.placement != nullptr) {
    *response = ctx_.placement->Get()->proto();
    response->set_node(ctx_.placement->node());
  }
  return FinishUnary(context, absl::OkStatus());
}

}  // namespace overlapd
