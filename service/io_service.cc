#include "service/io_service.h"

#include <algorithm>
#include <set>

#include "service/convert.h"
#include "service/status_util.h"

namespace overlapd {

namespace {

// Execute: one batch in, its events out, then the call ends.
class ExecuteReactor final : public grpc::ServerWriteReactor<v1::EventBatch>,
                             public EventStream {
 public:
  ExecuteReactor(ServiceContext& ctx, const Grant* grant, const v1::Batch* batch)
      : EventStream(ctx, StreamRpc::kExecute) {
    SetOwner(PathPrefixOf(grant));
    absl::Status valid = ValidateBatch(*batch, limits_);
    if (valid.ok()) valid = AuthorizeBatch(*batch, grant);
    if (!valid.ok()) {
      Abort(ToGrpc(valid));
      return;
    }
    // The request lives until the call ends and nothing else reads it:
    // moving write payloads out of it saves a copy of up to max_op_bytes.
    SubmitBatch(*const_cast<v1::Batch*>(batch), PathPrefixOf(grant));
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
  SessionReactor(ServiceContext& ctx, std::shared_ptr<const Grant> grant)
      : EventStream(ctx, StreamRpc::kSession), grant_(std::move(grant)) {
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
    absl::Status valid = ValidateBatch(in_, limits_);
    if (valid.ok()) valid = AuthorizeBatch(in_, grant_.get());
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
  void OnDone() override { Done(); }

 private:
  void SubmitAndReadNext() {
    SubmitBatch(in_, PathPrefixOf(grant_.get()));
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

  const std::shared_ptr<const Grant> grant_;  // null: no authentication
  v1::Batch in_;
  bool waiting_ = false;  // under mu_
};

// A streaming call refused before it starts (authentication): ends at once
// with `status`.
template <typename Reactor>
class RefusedStream final : public Reactor {
 public:
  explicit RefusedStream(const absl::Status& status) { this->Finish(ToGrpc(status)); }
  void OnDone() override { delete this; }
};

// Subscribe: follows the event log from a position, filtered. The writer
// token (as in EventStream) makes one thread at a time the writer; when the
// subscriber has caught up it registers with the log, whose next Append
// notifies it. A subscriber that falls behind the log's retention gets one
// EVENTS_LOST and continues from the oldest retained event.
class SubscribeReactor final : public grpc::ServerWriteReactor<v1::EventBatch>,
                               public LogWaiter,
                               public Drainable {
 public:
  SubscribeReactor(ServiceContext& ctx, const v1::SubscribeRequest& request,
                   std::string token_prefix)
      : ctx_(ctx),
        log_(*ctx.log),
        job_ids_(request.job_ids().begin(), request.job_ids().end()),
        path_prefix_(request.path_prefix()),
        token_prefix_(std::move(token_prefix)),
        session_(request.include_session_events()) {
    for (int t : request.types()) types_.insert(t);
    if (session_) log_.AddSessionSubscriber(1);
    ctx_.metrics->streams(StreamRpc::kSubscribe).Increment();
    ctx_.metrics->subscribers().Increment();
    if (request.has_from_seq()) {
      pos_ = log_.PositionOf(request.from_seq());
      expected_seq_ = request.from_seq();
    } else {
      pos_ = log_.end_position();
    }
    if (!ctx_.streams.Add(this)) stopping_.store(true);
    Pump();
  }

  bool Wants(const LogEntry& e) const override { return Matches(e); }
  void Notify(uint64_t pos) override {
    skip_to_.store(pos, std::memory_order_release);
    Pump();
  }
  // A subscription never ends by itself: at shutdown it ends at once with
  // UNAVAILABLE, saying where to resume.
  void BeginShutdown() override {
    stopping_.store(true);
    Pump();
  }
  void Ref() override { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() override {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  void OnWriteDone(bool ok) override {
    if (!ok) cancelled_.store(true);
    // Still the writer.
    if (Step()) return;
    writing_.store(false, std::memory_order_seq_cst);
    if (HasWork()) Pump();
  }
  void OnCancel() override {
    cancelled_.store(true);
    Pump();
  }
  void OnDone() override {
    log_.CancelWait(this);
    ctx_.streams.Remove(this);
    if (session_) log_.AddSessionSubscriber(-1);
    ctx_.metrics->streams(StreamRpc::kSubscribe).Decrement();
    ctx_.metrics->subscribers().Decrement();
    Unref();
  }

 private:
  static constexpr size_t kReadStep = 1024;
  static constexpr size_t kMaxScan = 16384;  // entries looked at per message

  void Pump() {
    for (;;) {
      if (writing_.exchange(true, std::memory_order_acq_rel)) return;
      if (Step()) return;
      writing_.store(false, std::memory_order_seq_cst);
      if (!HasWork()) return;
    }
  }

  bool HasWork() const {
    return cancelled_.load() || stopping_.load() ||
           log_.end_position() > std::max(pos_, skip_to_.load(std::memory_order_acquire));
  }

  bool Matches(const EventLog::Entry& e) const {
    const v1::Event& ev = *e.event;
    if (e.session && !session_) return false;
    if (!job_ids_.empty() && job_ids_.count(ev.job_id()) == 0) return false;
    if (!types_.empty() && types_.count(ev.type()) == 0) return false;
    // A token limited to a prefix sees the events of its own prefix's calls
    // and jobs, and of paths under it; prefixes match whole components of
    // the normalised path ("pub" is not "public" nor "pub/../secret").
    if (!token_prefix_.empty()) {
      if (e.owner == nullptr || !UnderPrefix(*e.owner, token_prefix_)) return false;
      if (!ev.path().empty() && !PathUnderPrefix(ev.path(), token_prefix_)) return false;
    }
    return path_prefix_.empty() || PathUnderPrefix(ev.path(), path_prefix_);
  }

  // With the token: starts a write, or finishes. False: caught up and
  // registered with the log (or nothing to do).
  bool Step() {
    if (finished_) return true;
    if (cancelled_.load()) {
      finished_ = true;
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "subscription cancelled"));
      return true;
    }
    if (stopping_.load()) {
      finished_ = true;
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "server shutting down; resume with from_seq " +
                              std::to_string(expected_seq_)));
      return true;
    }
    const uint32_t max_events = ctx_.config->limits.max_events_per_message;
    for (;;) {
      // Entries the log checked for us while we waited did not match.
      pos_ = std::max(pos_, skip_to_.load(std::memory_order_acquire));
      out_.Clear();
      size_t scanned = 0;
      while (static_cast<uint32_t>(out_.events_size()) < max_events && scanned < kMaxScan) {
        EventLog::ReadResult r = log_.Read(pos_, kReadStep);
        if (r.lost != 0) {
          v1::Event* lost = out_.add_events();
          lost->set_type(v1::EVENTS_LOST);
          lost->set_count(r.lost);
          lost->set_first_seq(expected_seq_);
          lost->set_last_seq(r.lost_last_seq);
          ctx_.metrics->events_lost().Increment(static_cast<double>(r.lost));
        }
        if (r.entries.empty()) break;
        pos_ = r.next_pos;
        scanned += r.entries.size();
        for (const auto& e : r.entries) {
          expected_seq_ = e.event->seq() + 1;
          if (Matches(e)) *out_.add_events() = *e.event;
        }
      }
      if (out_.events_size() > 0) {
        StartWrite(&out_);
        return true;
      }
      // Caught up: the next Append notifies, unless one came meanwhile.
      if (log_.WaitFor(this, pos_)) return false;
    }
  }

  ServiceContext& ctx_;
  EventLog& log_;
  const std::set<uint64_t> job_ids_;
  std::set<int> types_;
  const std::string path_prefix_;
  const std::string token_prefix_;  // the subscriber's token's; "" = all
  const bool session_;
  std::atomic<int64_t> refs_{1};
  std::atomic<bool> writing_{false};
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> skip_to_{0};  // set by Notify
  // Writer-token state.
  uint64_t pos_ = 0;
  uint64_t expected_seq_ = 0;
  bool finished_ = false;
  v1::EventBatch out_;
};

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
  // As in Execute: write payloads are moved out of the request, not copied.
  return FinishUnary(context,
                     jobs_.Submit(*const_cast<v1::Batch*>(request), PathPrefixOf(grant->get())),
                     response);
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
  if (allowed.ok() && *grant != nullptr) {
    allowed = (*grant)->CheckScope(kScopeWrite, "BeginUpload");
    if (allowed.ok()) allowed = (*grant)->CheckPath(request->path(), "path");
  }
  if (!allowed.ok()) return FinishUnary(context, allowed);
  std::string_view path = request->path();
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  const std::string_view leaf = LeafOf(path);
  std::string temp(path.substr(0, path.size() - leaf.size()));  // "dir/" or ""
  temp += ctx_.temp_namer->Mint(leaf, io::TempKind::kUpload);
  response->set_temp_path(std::move(temp));
  response->set_grace_seconds(static_cast<uint64_t>(ctx_.config->upload_grace_s));
  return FinishUnary(context, absl::OkStatus());
}

grpc::ServerWriteReactor<v1::EventBatch>* IoServiceImpl::Execute(
    grpc::CallbackServerContext* context, const v1::Batch* batch) {
  absl::StatusOr<std::shared_ptr<const Grant>> grant = Authenticate(context);
  if (!grant.ok()) {
    return new RefusedStream<grpc::ServerWriteReactor<v1::EventBatch>>(grant.status());
  }
  return new ExecuteReactor(ctx_, grant->get(), batch);
}

grpc::ServerBidiReactor<v1::Batch, v1::EventBatch>* IoServiceImpl::Session(
    grpc::CallbackServerContext* context) {
  absl::StatusOr<std::shared_ptr<const Grant>> grant = Authenticate(context);
  if (!grant.ok()) {
    return new RefusedStream<grpc::ServerBidiReactor<v1::Batch, v1::EventBatch>>(
        grant.status());
  }
  return new SessionReactor(ctx_, *grant);
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
  return FinishUnary(context, absl::OkStatus());
}

}  // namespace overlapd
