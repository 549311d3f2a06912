// The open streaming calls, so that a shutdown can end those that would
// otherwise hold the drain open forever (idle Sessions, Subscribes).
#ifndef OVERLAPD_SERVICE_STREAM_REGISTRY_H_
#define OVERLAPD_SERVICE_STREAM_REGISTRY_H_

#include <atomic>
#include <mutex>
#include <unordered_set>

namespace overlapd {

class Drainable {
 public:
  virtual ~Drainable() = default;
  // The server is stopping: stop taking new work, finish what is in flight,
  // end the call. Must not block.
  virtual void BeginShutdown() = 0;
  virtual void Ref() = 0;
  virtual void Unref() = 0;
};

// Thread-safe.
class StreamRegistry {
 public:
  // Returns false when the server is already stopping (the caller should
  // begin its shutdown at once).
  bool Add(Drainable* d) {
    std::lock_guard<std::mutex> lock(mu_);
    streams_.insert(d);
    return !stopping_;
  }
  void Remove(Drainable* d) {
    std::lock_guard<std::mutex> lock(mu_);
    streams_.erase(d);
  }
  // Calls BeginShutdown on every open stream, outside the lock (it may end
  // the call, and gRPC may then run OnDone, which calls Remove).
  void ShutdownAll() {
    std::vector<Drainable*> all;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      for (Drainable* d : streams_) {
        d->Ref();
        all.push_back(d);
      }
    }
    for (Drainable* d : all) {
      d->BeginShutdown();
      d->Unref();
    }
  }

 private:
  std::mutex mu_;
  std::unordered_set<Drainable*> streams_;
  bool stopping_ = false;
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_STREAM_REGISTRY_H_
