// The Subscribe call: follows the event log.
#ifndef OVERLAPD_SERVICE_SUBSCRIBE_REACTOR_H_
#define OVERLAPD_SERVICE_SUBSCRIBE_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <set>
#include <string>

#include "overlapd/v1/overlapd.pb.h"
#include "service/event_log.h"
#include "service/service_context.h"
#include "service/stream_writer.h"

namespace overlapd {


// Subscribe: follows the event log from a position, filtered. The writer
// token (StreamWriter) makes one thread at a time the writer; when the
// subscriber has caught up it registers with the log, whose next Append
// notifies it. A subscriber that falls behind the log's retention gets one
// EVENTS_LOST and continues from the oldest retained event.
class SubscribeReactor final : public grpc::ServerWriteReactor<v1::EventBatch>,
                               public LogWaiter,
                               public Drainable,
                               public StreamWriter {
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
    Kick();
  }

  bool Wants(const LogEntry& e) const override { return Matches(e); }
  // A bookmark is due when nothing was sent for --progress-seconds.
  void Heartbeat(uint64_t now_ns) override {
    const uint64_t interval_ns = uint64_t{1'000'000'000} * ctx_.config->progress_seconds;
    if (interval_ns == 0 || now_ns - last_sent_ns_.load() < interval_ns) return;
    progress_due_.store(true);
    Kick();
  }
  void Notify(uint64_t pos) override {
    skip_to_.store(pos, std::memory_order_release);
    Kick();
  }
  // A subscription never ends by itself: at shutdown (after the jobs have
  // drained) it sends what the log holds and ends with UNAVAILABLE, saying
  // where to resume.
  bool is_subscription() const override { return true; }
  void BeginShutdown() override {
    stopping_.store(true);
    Kick();
  }
  void Ref() override { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() override {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  void OnWriteDone(bool ok) override {
    if (!ok) cancelled_.store(true);
    WriteDone();
  }
  void OnCancel() override {
    cancelled_.store(true);
    Kick();
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



  bool HasWork() const override {
    return cancelled_.load() || stopping_.load() || progress_due_.load() ||
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
  bool Step() override {
    if (finished_) return true;
    if (cancelled_.load()) {
      finished_ = true;
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "subscription cancelled"));
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
      if (out_.events_size() == 0 && progress_due_.exchange(false)) AddProgress();
      if (out_.events_size() > 0) {
        told_seq_ = std::max(told_seq_, out_.events(out_.events_size() - 1).seq());
        last_sent_ns_.store(MonotonicNs());
        MarkWriteStarted();
        StartWrite(&out_);
        return true;
      }
      // Shutting down and caught up with the log (the server's last events,
      // its jobs' cancellations included, are in it by now): end.
      if (stopping_.load()) {
        finished_ = true;
        Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            "server shutting down; resume with from_seq " +
                                std::to_string(expected_seq_)));
        return true;
      }
      // Caught up: the next Append notifies, unless one came meanwhile.
      if (log_.WaitFor(this, pos_)) return false;
    }
  }

  // A PROGRESS bookmark: every entry before pos_ has been looked at (read,
  // or passed over by the log's Wants check), so the seq of the last of
  // them is safe to resume after. Nothing when the log has not moved since
  // the subscriber last heard.
  void AddProgress() {
    const uint64_t seq = std::max(expected_seq_ == 0 ? 0 : expected_seq_ - 1,
                                  log_.SeqBefore(pos_));
    if (seq <= told_seq_) return;
    v1::Event* progress = out_.add_events();
    progress->set_type(v1::PROGRESS);
    progress->set_seq(seq);
  }

  ServiceContext& ctx_;
  EventLog& log_;
  const std::set<uint64_t> job_ids_;
  std::set<int> types_;
  const std::string path_prefix_;
  const std::string token_prefix_;  // the subscriber's token's; "" = all
  const bool session_;
  std::atomic<int64_t> refs_{1};
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> skip_to_{0};  // set by Notify
  std::atomic<bool> progress_due_{false};  // set by Heartbeat
  std::atomic<uint64_t> last_sent_ns_{MonotonicNs()};
  uint64_t told_seq_ = 0;  // writer-token state: the last seq sent
  // Writer-token state.
  uint64_t pos_ = 0;
  uint64_t expected_seq_ = 0;
  bool finished_ = false;
  v1::EventBatch out_;
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_SUBSCRIBE_REACTOR_H_
