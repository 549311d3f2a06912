// Ctrl-C for the `overlap` CLI.
//
// Install() blocks SIGINT and SIGTERM in the calling thread, so every thread
// started afterwards (gRPC's included) inherits the block, and starts one
// thread that waits for them (sigwait). A command that can clean up after
// itself (put, get, sync) calls SetGraceful(): the first signal then cancels
// the client's calls through token(), and the command removes its temp
// files and exits 130 with the old file intact. Without SetGraceful, or on a
// second signal, the process exits at once with 128 + the signal, as if the
// signal had killed it.
//
// Threads: Install once, from main, before any other thread exists; the
// other methods are thread-safe.
#ifndef OVERLAPD_CLIENTS_CPP_INTERRUPT_H_
#define OVERLAPD_CLIENTS_CPP_INTERRUPT_H_

#include <atomic>

#include "clients/cpp/cancel.h"

namespace overlapd {
namespace cli {

class Interrupts {
 public:
  static Interrupts& Install();

  CancelToken& token() { return token_; }
  void SetGraceful() { graceful_.store(true); }
  bool interrupted() const { return interrupted_.load(); }

 private:
  Interrupts() = default;
  void Watch();

  CancelToken token_;
  std::atomic<bool> graceful_{false};
  std::atomic<bool> interrupted_{false};
};

}  // namespace cli
}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_INTERRUPT_H_
