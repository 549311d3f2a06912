#include "service/systemd_notify.h"

#include <cstdlib>

#ifdef OVERLAPD_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace overlapd {
namespace {

void Send(const std::string& state) {
#ifdef OVERLAPD_HAVE_SYSTEMD
  // 0: keep $NOTIFY_SOCKET; later notifications (reload, stop) need it.
  sd_notify(0, state.c_str());
#else
  (void)state;
#endif
}

}  // namespace

void NotifyReady(const std::string& status) { Send("READY=1\nSTATUS=" + status); }

void NotifyReloading() { Send("RELOADING=1\nSTATUS=reloading the token file"); }

void NotifyStopping(const std::string& status) { Send("STOPPING=1\nSTATUS=" + status); }

bool UnderSystemd() { return std::getenv("NOTIFY_SOCKET") != nullptr; }

}  // namespace overlapd
