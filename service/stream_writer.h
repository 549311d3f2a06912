// The single-writer protocol of a streaming reactor.
//
// gRPC allows one write in flight per stream and one Finish. Events for a
// stream arrive on any thread (engine workers completing ops, gRPC threads,
// the event log's appender), so whoever has something to send tries to
// become the writer: Kick() takes the token (an atomic flag) when no one
// holds it and calls Step(), which either starts one write or the Finish
// and keeps the token (true), or finds nothing to do (false). The token then
// stays with the write until the reactor's OnWriteDone calls WriteDone(),
// which runs Step() again. After letting the token go, the writer looks at
// HasWork() once more: work that arrived while the token was held found it
// taken and would otherwise wait for the next event (a lost wake-up).
//
// Threads: Kick from any thread; WriteDone from OnWriteDone. Step runs on
// one thread at a time, so the state it touches needs no lock.
// Lifetime: the reactor must keep itself alive across Kick (a reference).
#ifndef OVERLAPD_SERVICE_STREAM_WRITER_H_
#define OVERLAPD_SERVICE_STREAM_WRITER_H_

#include <atomic>
#include <cstdint>

namespace overlapd {

class StreamWriter {
 public:
  virtual ~StreamWriter() = default;

  // Becomes the writer if no one is, and writes or finishes. Thread-safe.
  void Kick();

  // When the write in flight started (MonotonicNs), 0 when none: for
  // cutting streams whose client stopped reading.
  uint64_t write_started_ns() const { return write_started_ns_.load(std::memory_order_acquire); }
  // Whether the write in flight has waited on the client for at least
  // `stall_ns` at `now_ns` (a MonotonicNs taken by the caller, which may be
  // older than a write started since: that write has not stalled).
  bool WriteStalled(uint64_t now_ns, uint64_t stall_ns) const;

 protected:
  // With the token: start one write (call MarkWriteStarted) or the Finish,
  // and return true; or return false when there is nothing to do now.
  virtual bool Step() = 0;
  // Whether something may be waiting for Step (after the token was let go).
  virtual bool HasWork() const = 0;

  // The write Step started completed (from OnWriteDone, after the
  // reactor's own bookkeeping): still the writer, go on or let go.
  void WriteDone();
  void MarkWriteStarted();

 private:
  // Lets the token go; true when work that came meanwhile needs a Kick.
  bool Release();

  std::atomic<bool> writing_{false};
  std::atomic<uint64_t> write_started_ns_{0};
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_STREAM_WRITER_H_
