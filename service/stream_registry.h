// The open streaming calls, so that a shutdown can end those that would
// otherwise hold the drain open forever (idle Sessions, Subscribes).
#ifndef OVERLAPD_SERVICE_STREAM_REGISTRY_H_
#define OVERLAPD_SERVICE_STREAM_REGISTRY_H_

#include <atomic>
#include <unordered_set>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace overlapd {

class Drainable {
 public:
  virtual ~Drainable() = default;
  // The server is stopping: stop taking new work, finish what is in flight,
  // end the call. Must not block.
  virtual void BeginShutdown() = 0;
  // Cancels the call if one of its writes has waited on the client for more
  // than `stall_ns` (a reader that stopped reading pins its buffers and its
  // share of the server's read budget). Must not block.
  virtual void CancelIfStalled(uint64_t now_ns, uint64_t stall_ns) {}
  // The drain time is nearly up: cancel the ops in flight, so that their
  // OP_CANCELLED events still reach the client before the call is cut.
  virtual void CancelOps() {}
  // Once a second, from the main thread (subscriptions send their PROGRESS
  // bookmarks). Must not block.
  virtual void Heartbeat(uint64_t now_ns) {}
  // Subscriptions outlive the other calls in a drain: they carry the jobs'
  // last events.
  virtual bool is_subscription() const { return false; }
  // In a drain: a call that has had nothing to do for `idle_ns` (no op in
  // flight, no batch received) begins its shutdown; one still sending
  // batches (an upload) goes on. Must not block.
  virtual void ShutdownIfIdle(uint64_t now_ns, uint64_t idle_ns) { BeginShutdown(); }
  virtual void Ref() = 0;
  virtual void Unref() = 0;
};

// Thread-safe.
class StreamRegistry {
 public:
  // Returns false when the server is already stopping (the caller should
  // begin its shutdown at once).
  bool Add(Drainable* d) {
    absl::MutexLock lock(&mu_);
    streams_.insert(d);
    return !stopping_;
  }
  void Remove(Drainable* d) {
    absl::MutexLock lock(&mu_);
    streams_.erase(d);
  }
  // Calls BeginShutdown on every open stream, outside the lock (it may end
  // the call, and gRPC may then run OnDone, which calls Remove).
  void ShutdownAll() {
    ForEach(/*stop=*/true, [](Drainable* d) { d->BeginShutdown(); });
  }
  // ShutdownIfIdle on the calls other than subscriptions.
  void ShutdownIdleCalls(uint64_t now_ns, uint64_t idle_ns) {
    ForEach(/*stop=*/true, [&](Drainable* d) {
      if (!d->is_subscription()) d->ShutdownIfIdle(now_ns, idle_ns);
    });
  }
  void CancelOps() {
    ForEach(/*stop=*/true, [](Drainable* d) { d->CancelOps(); });
  }
  // Open calls other than subscriptions.
  size_t calls() const {
    absl::MutexLock lock(&mu_);
    size_t n = 0;
    for (Drainable* d : streams_) n += d->is_subscription() ? 0 : 1;
    return n;
  }
  // Cancels the streams whose writes stalled for over `stall_ns`; gives
  // the others their Heartbeat.
  void CancelStalled(uint64_t now_ns, uint64_t stall_ns) {
    ForEach(/*stop=*/false, [&](Drainable* d) {
      d->CancelIfStalled(now_ns, stall_ns);
      d->Heartbeat(now_ns);
    });
  }
  size_t size() const {
    absl::MutexLock lock(&mu_);
    return streams_.size();
  }

 private:
  template <typename Fn>
  void ForEach(bool stop, Fn fn) {
    std::vector<Drainable*> all;
    {
      absl::MutexLock lock(&mu_);
      if (stop) stopping_ = true;
      for (Drainable* d : streams_) {
        d->Ref();
        all.push_back(d);
      }
    }
    for (Drainable* d : all) {
      fn(d);
      d->Unref();
    }
  }

  mutable absl::Mutex mu_;
  std::unordered_set<Drainable*> streams_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_STREAM_REGISTRY_H_
