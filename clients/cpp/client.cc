#include "clients/cpp/client.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <utility>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/client_interceptor.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "clients/cpp/client_internal.h"
#include "clients/cpp/status_macros.h"

namespace overlapd {
namespace {

using internal::Crc32c;
using internal::EventStatus;
using internal::FromGrpcStatus;
using internal::PutPlan;

// Owns a file descriptor; closes it on destruction. Close() reports the
// error of close(2), which for a written file can be the first sign of a
// failed write-back (e.g. NFS, quota).
class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  void reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  absl::Status Close(const std::string& what) {
    const int fd = fd_;
    fd_ = -1;
    if (fd >= 0 && ::close(fd) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("close ", what));
    }
    return absl::OkStatus();
  }

 private:
  int fd_ = -1;
};

// Reads exactly `len` bytes at `offset`. A short file means it changed under
// us after fstat: the upload would no longer match its plan, so stop.
absl::Status PreadExact(int fd, char* buf, uint64_t len, uint64_t offset,
                        const std::string& what) {
  while (len > 0) {
    const ssize_t n = ::pread(fd, buf, len, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("read ", what));
    }
    if (n == 0) {
      return absl::AbortedError(
          absl::StrCat(what, ": file shrank while it was being sent"));
    }
    buf += n;
    len -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::Status PwriteAll(int fd, absl::string_view data, uint64_t offset,
                       const std::string& what) {
  while (!data.empty()) {
    const ssize_t n =
        ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("write ", what));
    }
    data.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

uint64_t RandomU64() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// `what`: the missing piece, "REPLACE_ATOMIC" (small files) or "Rename"
// (files larger than one Write op).
absl::Status AtomicUnsupported(absl::string_view what,
                               const absl::Status& server,
                               absl::string_view note) {
  return absl::UnimplementedError(
      absl::StrCat("put --atomic: server does not support ", what, " yet (",
                   server.message(), ")", note));
}

bool IsTerminal(v1::JobState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED ||
         state == v1::CANCELLED;
}

bool IsFailure(const v1::Event& event) {
  return event.type() == v1::OP_FAILED || event.type() == v1::OP_CANCELLED;
}

// Uploads one local file in chunks over one Session stream.
//
// Single-threaded pipelining: the caller's thread sends batches while fewer
// than `inflight` are unacknowledged and otherwise reads events until one
// batch completes. This cannot deadlock: the server stops reading batches only
// while its credit is used up, and credit returns as ops complete, not as we
// read; the events we leave unread meanwhile are a few small messages (no
// data), far below the stream's flow-control window.
//
// Errors: the first OP_FAILED / OP_CANCELLED ends the upload with that op's
// status; the stream is then cancelled so the server drops the rest. A broken
// stream (Write/Read returning false) ends it with the call's final status.
class ChunkUploader {
 public:
  ChunkUploader(v1::IoService::Stub* stub, int fd, const PutPlan& plan,
                const std::string& remote_path, bool durable, uint32_t inflight,
                const ProgressFn& progress)
      : stub_(stub),
        fd_(fd),
        plan_(plan),
        durable_(durable),
        inflight_(inflight),
        progress_(progress) {
    // One Batch is reused for every chunk, so its data buffer is allocated
    // once: the client holds one chunk at a time.
    batch_.add_ops()->mutable_write()->set_path(remote_path);
  }

  absl::Status Run() {
    stream_ = stub_->Session(&context_);
    return Close(SendAll());
  }

 private:
  absl::Status SendAll() {
    const uint64_t count = plan_.chunk_count();
    for (uint64_t i = 0; i < count; ++i) {
      const bool last = i + 1 == count;
      // The first chunk truncates the file; any other chunk landing before
      // that truncate would be wiped, so wait for it.
      if (i == 1) OVERLAP_RETURN_IF_ERROR(AwaitAtMost(0));
      // Durable: the fsync behind the last chunk only covers writes that
      // already completed, so it goes after all of them.
      if (last && durable_ && count > 1) OVERLAP_RETURN_IF_ERROR(AwaitAtMost(0));
      OVERLAP_RETURN_IF_ERROR(AwaitAtMost(inflight_ - 1));
      OVERLAP_RETURN_IF_ERROR(Send(i, last));
    }
    return AwaitAtMost(0);
  }

  absl::Status Send(uint64_t index, bool last) {
    batch_.set_tag(index);
    v1::Op* op = batch_.mutable_ops(0);
    op->set_tag(index);
    v1::Write* write = op->mutable_write();
    write->set_offset(plan_.offset(index));
    write->set_mode(index == 0 ? v1::WRITE_MODE_TRUNCATE : v1::WRITE_MODE_AT);
    write->set_durability(last && durable_ ? v1::DURABILITY_FULL
                                           : v1::DURABILITY_NONE);
    std::string* data = write->mutable_data();
    data->resize(plan_.length(index));
    OVERLAP_RETURN_IF_ERROR(PreadExact(fd_, data->data(), data->size(),
                                       plan_.offset(index), write->path()));
    write->set_expected_crc32c(Crc32c(*data));
    // Write() serializes the batch before it returns; the buffer is free to
    // be refilled afterwards.
    if (!stream_->Write(batch_)) {
      stream_ended_ = true;
      return absl::UnavailableError("session stream closed by the server");
    }
    ++unacked_;
    return absl::OkStatus();
  }

  // Reads events until at most `limit` batches are unacknowledged.
  absl::Status AwaitAtMost(uint32_t limit) {
    while (unacked_ > limit) {
      if (!stream_->Read(&events_)) {
        stream_ended_ = true;
        return absl::InternalError(absl::StrFormat(
            "session stream ended with %d batches unacknowledged", unacked_));
      }
      for (const v1::Event& event : events_.events()) {
        OVERLAP_RETURN_IF_ERROR(HandleEvent(event));
      }
    }
    return absl::OkStatus();
  }

  absl::Status HandleEvent(const v1::Event& event) {
    if (IsFailure(event)) return EventStatus(event);
    switch (event.type()) {
      case v1::WRITE_COMPLETE:
        if (event.bytes() != plan_.length(event.tag())) {
          return absl::DataLossError(absl::StrFormat(
              "%s: chunk at offset %d: server wrote %d of %d bytes",
              event.path(), plan_.offset(event.tag()), event.bytes(),
              plan_.length(event.tag())));
        }
        return absl::OkStatus();
      case v1::BATCH_COMPLETE:
        if (unacked_ == 0) {
          return absl::InternalError("BATCH_COMPLETE for no pending batch");
        }
        --unacked_;
        acked_bytes_ += plan_.length(event.tag());
        if (progress_) progress_(acked_bytes_, plan_.size);
        return absl::OkStatus();
      default:
        return absl::OkStatus();
    }
  }

  // Ends the call. On success half-closes and returns the call's status; on
  // failure cancels (an op failed: stop the others) unless the stream already
  // broke, in which case the call's own status says why.
  absl::Status Close(absl::Status status) {
    if (status.ok()) {
      stream_->WritesDone();
      while (stream_->Read(&events_)) {
      }
      return FromGrpcStatus(stream_->Finish(), "Session");
    }
    if (!stream_ended_) context_.TryCancel();
    while (stream_->Read(&events_)) {
    }
    const grpc::Status final_status = stream_->Finish();
    if (stream_ended_ && !final_status.ok()) {
      return FromGrpcStatus(final_status, "Session");
    }
    return status;
  }

  v1::IoService::Stub* stub_;
  int fd_;
  PutPlan plan_;
  bool durable_;
  uint32_t inflight_;
  const ProgressFn& progress_;

  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::Batch, v1::EventBatch>> stream_;
  bool stream_ended_ = false;
  v1::Batch batch_;
  v1::EventBatch events_;
  uint32_t unacked_ = 0;
  uint64_t acked_bytes_ = 0;
};

absl::StatusOr<std::string> ReadPem(const char* what, const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  if (in) text << in.rdbuf();
  if (!in || text.str().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", path, ": cannot be read"));
  }
  return text.str();
}

// Adds the bearer token to every call's initial metadata. (gRPC's call
// credentials are refused on plaintext channels, and a token on loopback
// without TLS is a supported setup.)
class TokenInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit TokenInterceptor(const std::string* header) : header_(header) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace("authorization", *header_);
    }
    methods->Proceed();
  }

 private:
  const std::string* header_;
};

class TokenInterceptorFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit TokenInterceptorFactory(const std::string& token)
      : header_(absl::StrCat("Bearer ", token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    return new TokenInterceptor(&header_);
  }

 private:
  const std::string header_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateChannel(
    const std::string& target, const ConnectOptions& options,
    const grpc::ChannelArguments& args) {
  if (target.empty()) return absl::InvalidArgumentError("empty server address");
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  const bool client_cert = !options.tls_cert_file.empty() || !options.tls_key_file.empty();
  if (!options.tls_ca_file.empty() || client_cert) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_ca_file.empty()) {
      OVERLAP_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem("--tls-ca", options.tls_ca_file));
    }
    if (client_cert) {
      if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
        return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
      }
      OVERLAP_ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadPem("--tls-cert", options.tls_cert_file));
      OVERLAP_ASSIGN_OR_RETURN(ssl.pem_private_key, ReadPem("--tls-key", options.tls_key_file));
    }
    credentials = grpc::SslCredentials(ssl);
  }
  std::shared_ptr<grpc::Channel> channel;
  if (options.token.empty()) {
    channel = grpc::CreateCustomChannel(target, credentials, args);
  } else {
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> chain;
    chain.push_back(std::make_unique<TokenInterceptorFactory>(options.token));
    channel = grpc::experimental::CreateCustomChannelWithInterceptors(target, credentials, args,
                                                                      std::move(chain));
  }
  if (channel == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create channel to ", target));
  }
  return channel;
}

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(const std::string& target,
                                                        const ConnectOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(internal::kMaxMessageBytes);
  args.SetMaxSendMessageSize(internal::kMaxMessageBytes);
  OVERLAP_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                           CreateChannel(target, options, args));
  return std::make_unique<Client>(std::move(channel));
}

Client::Client(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)), stub_(v1::IoService::NewStub(channel_)) {}

namespace {

// One unary call: a fresh context, the response, or the call's status as
// an absl::Status naming the RPC.
template <typename Request, typename Response>
absl::StatusOr<Response> CallUnary(
    v1::IoService::Stub& stub,
    grpc::Status (v1::IoService::Stub::*method)(grpc::ClientContext*, const Request&,
                                                Response*),
    const Request& request, const char* name) {
  grpc::ClientContext context;
  Response response;
  OVERLAP_RETURN_IF_ERROR(FromGrpcStatus((stub.*method)(&context, request, &response), name));
  return response;
}

}  // namespace

absl::StatusOr<v1::Capabilities> Client::Capabilities() {
  return CallUnary(*stub_, &v1::IoService::Stub::GetCapabilities,
                   v1::GetCapabilitiesRequest(), "GetCapabilities");
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
  std::unique_ptr<grpc::ClientReader<v1::EventBatch>> reader =
      stub_->Execute(&context, batch);
  v1::EventBatch events;
  absl::Status stopped;
  bool batch_complete = false;
  while (stopped.ok() && reader->Read(&events)) {
    for (v1::Event& event : *events.mutable_events()) {
      if (event.type() == v1::BATCH_COMPLETE) batch_complete = true;
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
  OVERLAP_RETURN_IF_ERROR(FromGrpcStatus(reader->Finish(), "Execute"));
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
  OVERLAP_RETURN_IF_ERROR(ExecuteUntil(batch, [&](v1::Event& event) {
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
  OVERLAP_ASSIGN_OR_RETURN(v1::Event done,
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

absl::StatusOr<v1::Job> Client::Submit(const v1::Batch& batch) {
  return CallUnary(*stub_, &v1::IoService::Stub::Submit, batch, "Submit");
}

absl::StatusOr<v1::Job> Client::GetJob(uint64_t id) {
  v1::GetJobRequest request;
  request.set_id(id);
  return CallUnary(*stub_, &v1::IoService::Stub::GetJob, request, "GetJob");
}

absl::StatusOr<v1::Job> Client::CancelJob(uint64_t id) {
  v1::CancelJobRequest request;
  request.set_id(id);
  return CallUnary(*stub_, &v1::IoService::Stub::CancelJob, request, "CancelJob");
}

absl::StatusOr<v1::ListJobsResponse> Client::ListJobs(
    uint32_t page_size, const std::string& page_token) {
  v1::ListJobsRequest request;
  request.set_page_size(page_size);
  request.set_page_token(page_token);
  return CallUnary(*stub_, &v1::IoService::Stub::ListJobs, request, "ListJobs");
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
    OVERLAP_ASSIGN_OR_RETURN(v1::ListJobsResponse page,
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
    OVERLAP_ASSIGN_OR_RETURN(v1::Job job, GetJob(id));
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
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;
  // Safe from any thread: TryCancel only flags the call (gRPC takes its own
  // lock), and context_ is cleared under mu_ before the context dies.
  if (context_ != nullptr) context_->TryCancel();
}

bool SubscribeStop::stopped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopped_;
}

bool SubscribeStop::Attach(grpc::ClientContext* context) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return false;
  context_ = context;
  return true;
}

bool SubscribeStop::Detach() {
  std::lock_guard<std::mutex> lock(mu_);
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
  OVERLAP_RETURN_IF_ERROR(ExecuteUntil(batch, [&](v1::Event& event) {
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
    OVERLAP_RETURN_IF_ERROR(ExecuteUntil(batch, [&](v1::Event& event) {
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

absl::StatusOr<uint64_t> Client::ReadRange(
    const std::string& path, uint64_t offset, uint64_t length,
    const std::function<absl::Status(v1::Event&)>& on_chunk) {
  v1::Batch batch;
  v1::Read* read = batch.add_ops()->mutable_read();
  read->set_path(path);
  read->set_offset(offset);
  read->set_length(length);
  uint64_t received = 0;
  uint64_t total = 0;
  bool complete = false;
  OVERLAP_RETURN_IF_ERROR(ExecuteUntil(batch, [&](v1::Event& event) {
    if (IsFailure(event)) return EventStatus(event);
    if (event.type() == v1::READ_COMPLETE) {
      complete = true;
      total = event.bytes();
      return absl::OkStatus();
    }
    if (event.type() != v1::READ_CHUNK) return absl::OkStatus();
    const uint64_t size = event.data().size();
    const uint32_t crc = Crc32c(event.data());
    if (crc != event.crc32c()) {
      return absl::DataLossError(absl::StrFormat(
          "%s: chunk at offset %d: crc32c %08x, server said %08x", path,
          event.offset(), crc, event.crc32c()));
    }
    // The chunk is written where it says; refuse one outside the request.
    if (event.offset() < offset ||
        (length != 0 && event.offset() + size > offset + length)) {
      return absl::DataLossError(absl::StrFormat(
          "%s: chunk at offset %d (%d bytes) is outside the requested range",
          path, event.offset(), size));
    }
    received += size;
    return on_chunk(event);
  }));
  if (!complete) return absl::InternalError("read ended without READ_COMPLETE");
  if (received != total) {
    return absl::DataLossError(absl::StrFormat(
        "%s: received %d bytes in chunks, READ_COMPLETE says %d", path,
        received, total));
  }
  return total;
}

absl::StatusOr<uint64_t> Client::GetFile(const std::string& remote_path,
                                         const std::string& local_path,
                                         const ProgressFn& progress) {
  OVERLAP_ASSIGN_OR_RETURN(std::unique_ptr<v1::Capabilities> caps,
                           OptionalCapabilities());
  // A 0 window reads to EOF in one op; a server limit splits the file.
  const uint64_t window = caps != nullptr ? caps->max_read_bytes() : 0;
  uint64_t total_hint = 0;
  if (progress) {
    absl::StatusOr<std::vector<absl::StatusOr<v1::FileInfo>>> st =
        Stat({remote_path});
    if (st.ok() && (*st)[0].ok()) total_hint = (*st)[0]->size();
  }

  ScopedFd fd;
  auto open_local = [&]() -> absl::Status {
    if (fd.get() >= 0) return absl::OkStatus();
    const int raw = ::open(local_path.c_str(),
                           O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (raw < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", local_path));
    fd.reset(raw);
    return absl::OkStatus();
  };
  uint64_t offset = 0;
  uint64_t done = 0;
  for (;;) {
    OVERLAP_ASSIGN_OR_RETURN(
        const uint64_t got,
        ReadRange(remote_path, offset, window, [&](v1::Event& chunk) {
          OVERLAP_RETURN_IF_ERROR(open_local());
          OVERLAP_RETURN_IF_ERROR(
              PwriteAll(fd.get(), chunk.data(), chunk.offset(), local_path));
          done += chunk.data().size();
          if (progress) progress(done, total_hint);
          return absl::OkStatus();
        }));
    OVERLAP_RETURN_IF_ERROR(open_local());  // an empty file has no chunks
    offset += got;
    if (window == 0 || got < window) break;
  }
  // The local file may have been longer before O_TRUNC raced with another
  // writer, or chunks may be sparse at the end; the size is what was read.
  if (::ftruncate(fd.get(), static_cast<off_t>(offset)) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("truncate ", local_path));
  }
  OVERLAP_RETURN_IF_ERROR(fd.Close(local_path));
  return offset;
}

absl::StatusOr<uint64_t> Client::Cat(
    const std::string& remote_path,
    const std::function<absl::Status(absl::string_view)>& sink,
    uint64_t window_bytes) {
  OVERLAP_ASSIGN_OR_RETURN(std::unique_ptr<v1::Capabilities> caps,
                           OptionalCapabilities());
  uint64_t window = window_bytes == 0 ? (16u << 20) : window_bytes;
  if (caps != nullptr && caps->max_read_bytes() > 0) {
    window = std::min(window, caps->max_read_bytes());
  }
  internal::ReorderBuffer reorder(0, sink);
  uint64_t offset = 0;
  for (;;) {
    OVERLAP_ASSIGN_OR_RETURN(
        const uint64_t got,
        ReadRange(remote_path, offset, window, [&](v1::Event& chunk) {
          return reorder.Add(chunk.offset(),
                             std::move(*chunk.mutable_data()));
        }));
    offset += got;
    if (reorder.next_offset() != offset) {
      return absl::DataLossError(absl::StrFormat(
          "%s: missing bytes at offset %d", remote_path, reorder.next_offset()));
    }
    if (got < window) break;
  }
  return offset;
}

absl::StatusOr<uint64_t> Client::PutFile(const std::string& local_path,
                                         const std::string& remote_path,
                                         const PutOptions& options,
                                         const ProgressFn& progress) {
  ScopedFd fd(::open(local_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("open ", local_path));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("stat ", local_path));
  }
  // Chunks are planned from the size, so it must be known up front.
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(local_path, ": not a regular file"));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  OVERLAP_ASSIGN_OR_RETURN(std::unique_ptr<v1::Capabilities> caps,
                           OptionalCapabilities());
  const uint64_t chunk =
      internal::EffectiveChunkBytes(options.chunk_bytes, caps.get());
  const uint32_t inflight =
      internal::EffectiveInflight(options.inflight, caps.get());

  // One REPLACE_ATOMIC op when the file fits in one Write op; the temp file
  // and rename otherwise (see PutFile).
  if (options.atomic &&
      size <= internal::SingleWriteOpBytes(caps.get(), chunk)) {
    OVERLAP_RETURN_IF_ERROR(
        PutSmallAtomic(fd.get(), size, remote_path, options.durable));
    if (progress) progress(size, size);
  } else if (options.atomic) {
    OVERLAP_RETURN_IF_ERROR(PutLargeAtomic(fd.get(), size, remote_path,
                                           options.durable, chunk, inflight,
                                           progress));
  } else {
    OVERLAP_RETURN_IF_ERROR(UploadChunks(fd.get(), size, remote_path,
                                         options.durable, chunk, inflight,
                                         progress));
  }
  return size;
}

absl::Status Client::UploadChunks(int fd, uint64_t size,
                                  const std::string& remote_path, bool durable,
                                  uint64_t chunk_bytes, uint32_t inflight,
                                  const ProgressFn& progress) {
  const PutPlan plan{size, chunk_bytes};
  ChunkUploader uploader(stub_.get(), fd, plan, remote_path, durable, inflight,
                         progress);
  return uploader.Run();
}

absl::Status Client::PutSmallAtomic(int fd, uint64_t size,
                                    const std::string& remote_path,
                                    bool durable) {
  v1::Batch batch;
  v1::Write* write = batch.add_ops()->mutable_write();
  write->set_path(remote_path);
  write->set_mode(v1::WRITE_MODE_REPLACE_ATOMIC);
  // REPLACE_ATOMIC already fsyncs the temporary file before the rename;
  // FULL adds the directory fsync that makes the rename itself durable.
  write->set_durability(durable ? v1::DURABILITY_FULL : v1::DURABILITY_NONE);
  std::string* data = write->mutable_data();
  data->resize(size);
  OVERLAP_RETURN_IF_ERROR(PreadExact(fd, data->data(), size, 0, remote_path));
  write->set_expected_crc32c(Crc32c(*data));
  bool written = false;
  const absl::Status status = ExecuteUntil(batch, [&](v1::Event& event) {
    if (IsFailure(event)) return EventStatus(event);
    if (event.type() == v1::WRITE_COMPLETE) written = true;
    return absl::OkStatus();
  });
  // The server may refuse the mode while validating the batch (call status)
  // or when running the op (OP_FAILED); both mean the same to the user.
  if (status.code() == absl::StatusCode::kUnimplemented) {
    return AtomicUnsupported("REPLACE_ATOMIC", status, "");
  }
  OVERLAP_RETURN_IF_ERROR(status);
  if (!written) return absl::InternalError("atomic write ended without WRITE_COMPLETE");
  return absl::OkStatus();
}

absl::Status Client::PutLargeAtomic(int fd, uint64_t size,
                                    const std::string& remote_path,
                                    bool durable, uint64_t chunk_bytes,
                                    uint32_t inflight,
                                    const ProgressFn& progress) {
  // Too big for one REPLACE_ATOMIC op: write a hidden sibling, then rename it
  // over the target (rename(2) within one directory is atomic). With durable,
  // the temp file's last chunk fsyncs it and the directory before the rename,
  // and a directory fsync after the rename makes the new name durable.
  const std::string temp = internal::TempNameFor(remote_path, RandomU64());
  auto remove_temp = [&]() {
    v1::Batch batch;
    batch.add_ops()->mutable_delete_()->set_path(temp);
    // Best effort: the upload already failed with a more useful error.
    ExecuteUntil(batch, [](v1::Event&) { return absl::OkStatus(); }).IgnoreError();
  };
  absl::Status status = UploadChunks(fd, size, temp, durable, chunk_bytes,
                                     inflight, progress);
  if (!status.ok()) {
    remove_temp();
    return status;
  }

  v1::Batch batch;
  v1::Op* rename_op = batch.add_ops();
  rename_op->mutable_rename()->set_src(temp);
  rename_op->mutable_rename()->set_dst(remote_path);
  if (durable) {
    rename_op->set_link_next(true);
    batch.add_ops()->mutable_fsync()->set_path(internal::ParentDir(remote_path));
  }
  bool renamed = false;
  status = ExecuteUntil(batch, [&](v1::Event& event) {
    if (event.type() == v1::RENAME_COMPLETE) renamed = true;
    if (IsFailure(event)) return EventStatus(event);
    return absl::OkStatus();
  });
  if (status.code() == absl::StatusCode::kUnimplemented && !renamed) {
    // Leave the temp file: deleting anything on a server that half-supports
    // this path is riskier than a stray hidden file.
    return AtomicUnsupported("Rename", status,
                             absl::StrCat("; the data was left in ", temp));
  }
  if (!status.ok() && !renamed) remove_temp();
  return status;
}

}  // namespace overlapd
