#include "clients/cpp/interrupt.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

namespace overlapd {
namespace cli {
namespace {

sigset_t Signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

Interrupts& Interrupts::Install() {
  static Interrupts* const interrupts = [] {
    const sigset_t set = Signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    auto* created = new Interrupts;  // lives until exit: the watcher uses it
    std::thread([created] { created->Watch(); }).detach();
    return created;
  }();
  return *interrupts;
}

void Interrupts::Watch() {
  const sigset_t set = Signals();
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (!graceful_.load() || interrupted_.exchange(true)) {
      std::_Exit(128 + sig);
    }
    const char note[] = "\noverlap: interrupted; cleaning up (again to quit at once)\n";
    (void)!::write(STDERR_FILENO, note, sizeof(note) - 1);
    token_.Cancel();
  }
}

}  // namespace cli
}  // namespace overlapd
