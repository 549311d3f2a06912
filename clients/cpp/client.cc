#include "clients/cpp/client.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <optional>
#include <utility>

#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "clients/cpp/client_internal.h"
#include "ioengine/status_macros.h"

namespace overlapd {

using internal::CallGuard;
using internal::CancelledBeforeStart;
using internal::EventStatus;
using internal::FromGrpcStatus;
using internal::IsFailure;
using internal::IsRefusedBatch;
using internal::IsTerminal;

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(const std::string& target,
                                                        const ConnectOptions& options) {
  OVERLAPD_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel, OpenChannel(target, options));
  auto client = std::make_unique<Client>(std::move(channel));
  client->set_lane(LaneMode::kOff, options.token);  // the CLI turns it on
  return client;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> Client::OpenChannel(
    const std::string& target, const ConnectOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(internal::kMaxMessageBytes);
  args.SetMaxSendMessageSize(internal::kMaxMessageBytes);
  // gRPC waits 1 s, then up to 120 s, before reconnecting after a failed
  // connect, and fails calls fast meanwhile; a retry (retry.h) after its own
  // backoff would then meet the same stale failure. Reconnect soon instead.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return CreateChannel(target, options, args);
}

Client::Client(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)), stub_(v1::IoService::NewStub(channel_)) {}

absl::Status Client::WaitUntilConnected(const RetryPolicy& policy,
                                        const RetryFn& on_retry) {
  return Retry(policy, on_retry, [&](int) { return TryConnect(absl::Seconds(10)); },
               [&] { return cancelled(); });
}

absl::Status Client::TryConnect(absl::Duration timeout) {
  auto deadline = std::chrono::system_clock::now() +
                  std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout));
  grpc_connectivity_state state = channel_->GetState(/*try_to_connect=*/true);
  // After a failed connect the channel stays in TRANSIENT_FAILURE ("sticky")
  // while it keeps reconnecting in the background (see Connect for its
  // backoff) until one succeeds: give it one second to become READY.
  if (state == GRPC_CHANNEL_TRANSIENT_FAILURE) {
    deadline = std::min(deadline, std::chrono::system_clock::now() + std::chrono::seconds(1));
  }
  while (state != GRPC_CHANNEL_READY) {
    if (state == GRPC_CHANNEL_SHUTDOWN) return absl::UnavailableError("channel shut down");
    if (!channel_->WaitForStateChange(state, deadline)) {
      return absl::UnavailableError("cannot connect to the server");
    }
    if (cancelled()) return absl::CancelledError("interrupted while connecting");
    state = channel_->GetState(/*try_to_connect=*/true);
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE) {
      return absl::UnavailableError("cannot connect to the server");
    }
  }
  return absl::OkStatus();
}

namespace {

// One unary call: a fresh context (registered with `cancel`), the response,
// or the call's status as an absl::Status naming the RPC.
template <typename Request, typename Response>
absl::StatusOr<Response> CallUnary(
    v1::IoService::Stub& stub, CancelToken* cancel,
    grpc::Status (v1::IoService::Stub::*method)(grpc::ClientContext*, const Request&,
                                                Response*),
    const Request& request, const char* name) {
  grpc::ClientContext context;
  CallGuard guard(cancel, &context);
  if (guard.cancelled()) return CancelledBeforeStart(name);
  Response response;
  OVERLAPD_RETURN_IF_ERROR(FromGrpcStatus((stub.*method)(&context, request, &response), name));
  return response;
}

}  // namespace

absl::StatusOr<v1::Capabilities> Client::Capabilities() {
  return CallUnary(*stub_, cancel_, &v1::IoService::Stub::GetCapabilities,
                   v1::GetCapabilitiesRequest(), "GetCapabilities");
}

absl::StatusOr<v1::Placement> Client::GetPlacement() {
  return CallUnary(*stub_, cancel_, &v1::IoService::Stub::GetPlacement,
                   v1::GetPlacementRequest(), "GetPlacement");
}

absl::StatusOr<std::unique_ptr<v1::Capabilities>>
Client::OptionalCapabilities() {
  absl::StatusOr<v1::Capabilities> caps = Capabilities();
  if (caps.status().code() == absl::StatusCode::kUnimplemented) {
    return std::unique_ptr<v1::Capabilities>();
  }
  if (!caps.ok()) return caps.status();
  return std::make_unique<v1::Capabilities>(*std::move(caps));
}

absl::Status Client::Execute(const v1::Batch& batch, const EventFn& on_event) {
  return ExecuteUntil(batch, [&](v1::Event& event) {
    on_event(event);
    return absl::OkStatus();
  });
}

absl::Status Client::ExecuteUntil(
    const v1::Batch& batch,
    const std::function<absl::Status(v1::Event&)>& on_event) {
  grpc::ClientContext context;
  CallGuard guard(cancel_, &context);
  if (guard.cancelled()) return CancelledBeforeStart("Execute");
  std::unique_ptr<grpc::ClientReader<v1::EventBatch>> reader =
      stub_->Execute(&context, batch);
  v1::EventBatch events;
  absl::Status stopped;
  bool batch_complete = false;
  while (stopped.ok() && reader->Read(&events)) {
    for (v1::Event& event : *events.mutable_events()) {
      if (event.type() == v1::BATCH_COMPLETE) {
        batch_complete = true;
        // Execute refuses a bad batch with the call's status; a server that
        // says so in the event instead must not pass for success either.
        if (IsRefusedBatch(event)) {
          stopped = EventStatus(event);
          break;
        }
      }
      stopped = on_event(event);
      if (!stopped.ok()) break;
    }
  }
  if (!stopped.ok()) {
    // The caller gave up on this batch: cancel so the server drops the rest,
    // then collect the (CANCELLED) status to end the call cleanly.
    context.TryCancel();
    while (reader->Read(&events)) {
    }
    reader->Finish();
    return stopped;
  }
  OVERLAPD_RETURN_IF_ERROR(FromGrpcStatus(reader->Finish(), "Execute"));
  if (!batch_complete) {
    return absl::InternalError("Execute stream ended before BATCH_COMPLETE");
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Event> Client::RunSingleOp(v1::Op op,
                                              v1::EventType expected) {
  v1::Batch batch;
  *batch.add_ops() = std::move(op);
  std::optional<v1::Event> completion;
  OVERLAPD_RETURN_IF_ERROR(ExecuteUntil(batch, [&](v1::Event& event) {
    if (IsFailure(event)) return EventStatus(event);
    if (event.type() == expected) completion = std::move(event);
    return absl::OkStatus();
  }));
  if (!completion.has_value()) {
    return absl::InternalError(absl::StrCat(
        "batch ended without ", v1::EventType_Name(expected)));
  }
  return *std::move(completion);
}

absl::StatusOr<uint64_t> Client::Copy(const std::string& src,
                                      const std::string& dst,
                                      v1::Durability durability) {
  v1::Op op;
  v1::Copy* copy = op.mutable_copy();
  copy->set_src(src);
  copy->set_dst(dst);
  copy->set_durability(durability);
  OVERLAPD_ASSIGN_OR_RETURN(v1::Event done,
                           RunSingleOp(std::move(op), v1::COPY_COMPLETE));
  return done.bytes();
}

absl::Status Client::Rename(const std::string& src, const std::string& dst,
                            bool no_replace) {
  v1::Op op;
  v1::Rename* rename = op.mutable_rename();
  rename->set_src(src);
  rename->set_dst(dst);
  rename->set_no_replace(no_replace);
  return RunSingleOp(std::move(op), v1::RENAME_COMPLETE).status();
}

absl::Status Client::Delete(const std::string& path, bool directory) {
  v1::Op op;
  op.mutable_delete_()->set_path(path);
  op.mutable_delete_()->set_directory(directory);
  return RunSingleOp(std::move(op), v1::DELETE_COMPLETE).status();
}

absl::Status Client::Mkdir(const std::string& path, bool parents) {
  v1::Op op;
  op.mutable_mkdir()->set_path(path);
  op.mutable_mkdir()->set_parents(parents);
  return RunSingleOp(std::move(op), v1::MKDIR_COMPLETE).status();
}

absl::StatusOr<v1::Upload> Client::BeginUpload(const std::string& path) {
  v1::BeginUploadRequest request;
  request.set_path(path);
  return CallUnary(*stub_, cancel_, &v1::IoService::Stub::BeginUpload, request,
                   "BeginUpload");
}

absl::StatusOr<v1::Job> Client::Submit(const v1::Batch& batch) {
  return CallUnary(*stub_, cancel_, &v1::IoService::Stub::Submit, batch, "Submit");
}

absl::StatusOr<v1::Job> Client::GetJob(uint64_t id) {
  v1::GetJobRequest request;
  request.set_id(id);
  return CallUnary(*stub_, cancel_, &v1::IoService::Stub::GetJob, request, "GetJob");
}

absl::StatusOr<v1::Job> Client::CancelJob(uint64_t id) {
  v1::CancelJobRequest request;
  request.set_id(id);
  return CallUnary(*stub_, cancel_, &v1::IoService::Stub::CancelJob, request, "CancelJob");
}

absl::StatusOr<v1::ListJobsResponse> Client::ListJobs(
    uint32_t page_size, const std::string& page_token) {
  v1::ListJobsRequest request;
  request.set_page_size(page_size);
  request.set_page_token(page_token);
  return CallUnary(*stub_, cancel_, &v1::IoService::Stub::ListJobs, request, "ListJobs");
}

absl::StatusOr<std::vector<v1::Job>> Client::ListAllJobs(size_t max_jobs) {
  std::vector<v1::Job> jobs;
  std::string token;
  for (;;) {
    // Ask for no more than is still wanted; 0 lets the server choose.
    uint32_t page_size = 0;
    if (max_jobs != 0) {
      page_size = static_cast<uint32_t>(std::min<size_t>(
          max_jobs - jobs.size(), std::numeric_limits<uint32_t>::max()));
    }
    OVERLAPD_ASSIGN_OR_RETURN(v1::ListJobsResponse page,
                             ListJobs(page_size, token));
    for (v1::Job& job : *page.mutable_jobs()) {
      if (max_jobs != 0 && jobs.size() == max_jobs) break;
      jobs.push_back(std::move(job));
    }
    if (page.next_page_token().empty() ||
        (max_jobs != 0 && jobs.size() >= max_jobs)) {
      break;
    }
    // A server that hands back the same token, or an empty page with a
    // token, would keep this loop going forever.
    if (page.next_page_token() == token || page.jobs_size() == 0) {
      return absl::InternalError(
          "ListJobs: server returned a page token that makes no progress");
    }
    token = page.next_page_token();
  }
  return jobs;
}

absl::StatusOr<v1::Job> Client::WaitJob(uint64_t id,
                                        absl::Duration poll_interval,
                                        absl::Duration timeout,
                                        const JobFn& on_poll) {
  const absl::Time deadline = timeout == absl::InfiniteDuration()
                                  ? absl::InfiniteFuture()
                                  : absl::Now() + timeout;
  for (;;) {
    OVERLAPD_ASSIGN_OR_RETURN(v1::Job job, GetJob(id));
    if (on_poll) on_poll(job);
    if (IsTerminal(job.state())) return job;
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "job %d still %s after %s (%d of %d ops done)", id,
          v1::JobState_Name(job.state()), absl::FormatDuration(timeout),
          job.ops_done(), job.ops_total()));
    }
    // Sleep to the next poll, but poll once more right at the deadline. A
    // zero interval still yields 1 ms, so a caller cannot spin the server.
    absl::SleepFor(std::min(std::max(poll_interval, absl::Milliseconds(1)),
                            deadline - now));
  }
}

void SubscribeStop::Stop() {
  absl::MutexLock lock(&mu_);
  stopped_ = true;
  // Safe from any thread: TryCancel only flags the call (gRPC takes its own
  // lock), and context_ is cleared under mu_ before the context dies.
  if (context_ != nullptr) context_->TryCancel();
}

bool SubscribeStop::stopped() const {
  absl::MutexLock lock(&mu_);
  return stopped_;
}

bool SubscribeStop::Attach(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  if (stopped_) return false;
  context_ = context;
  return true;
}

bool SubscribeStop::Detach() {
  absl::MutexLock lock(&mu_);
  context_ = nullptr;
  return stopped_;
}

// Reads the stream until it ends, the callback declines more, or `stop`
// fires. Both ways of stopping cancel the call; the server then sees a
// cancelled stream (no error on its side) and Finish() returns CANCELLED,
// which here means "stopped as asked", so it is OK.
absl::Status Client::Subscribe(const v1::SubscribeRequest& request,
                               const SubscribeFn& on_event,
                               SubscribeStop* stop) {
  grpc::ClientContext context;
  CallGuard guard(cancel_, &context);
  if (guard.cancelled()) return CancelledBeforeStart("Subscribe");
  // Attached before the call starts: a Stop() in between cancels it as soon
  // as it starts (TryCancel before the call is remembered by gRPC).
  if (stop != nullptr && !stop->Attach(&context)) return absl::OkStatus();
  std::unique_ptr<grpc::ClientReader<v1::EventBatch>> reader =
      stub_->Subscribe(&context, request);
  v1::EventBatch events;
  bool want_more = true;
  while (want_more && reader->Read(&events)) {
    for (const v1::Event& event : events.events()) {
      if (!on_event(event)) {
        want_more = false;
        break;
      }
    }
  }
  if (!want_more) {
    context.TryCancel();
    while (reader->Read(&events)) {
    }
  }
  const grpc::Status status = reader->Finish();
  const bool stopped = stop != nullptr && stop->Detach();
  if (!want_more || stopped) return absl::OkStatus();
  return FromGrpcStatus(status, "Subscribe");
}

absl::StatusOr<std::vector<absl::StatusOr<v1::FileInfo>>> Client::Stat(
    const std::vector<std::string>& paths) {
  std::vector<absl::StatusOr<v1::FileInfo>> results(
      paths.size(), absl::InternalError("server sent no result for this path"));
  if (paths.empty()) return results;
  v1::Batch batch;
  for (size_t i = 0; i < paths.size(); ++i) {
    v1::Op* op = batch.add_ops();
    op->set_tag(i);
    op->mutable_stat()->set_path(paths[i]);
  }
  OVERLAPD_RETURN_IF_ERROR(ExecuteUntil(batch, [&](v1::Event& event) {
    if (event.type() == v1::BATCH_COMPLETE) return absl::OkStatus();
    if (event.tag() >= results.size()) {
      return absl::InternalError(
          absl::StrFormat("event for unknown op tag %d", event.tag()));
    }
    if (IsFailure(event)) {
      results[event.tag()] = EventStatus(event);
    } else if (event.type() == v1::STAT_COMPLETE) {
      results[event.tag()] = std::move(*event.mutable_stat());
    }
    return absl::OkStatus();
  }));
  return results;
}

absl::StatusOr<std::vector<v1::FileInfo>> Client::List(const std::string& dir) {
  std::vector<v1::FileInfo> entries;
  std::string start_after;
  for (bool more = true; more;) {
    v1::Batch batch;
    v1::List* list = batch.add_ops()->mutable_list();
    list->set_path(dir);
    list->set_start_after(start_after);
    bool listed = false;
    more = false;
    size_t page_entries = 0;
    OVERLAPD_RETURN_IF_ERROR(ExecuteUntil(batch, [&](v1::Event& event) {
      if (IsFailure(event)) return EventStatus(event);
      if (event.type() == v1::LIST_COMPLETE) {
        listed = true;
        more = event.more_entries();
        page_entries = event.entries_size();
        for (v1::FileInfo& entry : *event.mutable_entries()) {
          entries.push_back(std::move(entry));
        }
      }
      return absl::OkStatus();
    }));
    if (!listed) return absl::InternalError("List ended without LIST_COMPLETE");
    // An empty page that claims more would loop forever.
    if (more && page_entries == 0) {
      return absl::InternalError("List page is empty but more_entries is set");
    }
    if (more) start_after = entries.back().name();
  }
  return entries;
}

}  // namespace overlapd
