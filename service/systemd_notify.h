// Start-up, reload and stop notifications for systemd's Type=notify
// services (sd_notify(3), from libsystemd). Outside systemd ($NOTIFY_SOCKET
// unset) every call does nothing; so does a build without libsystemd
// (OVERLAPD_HAVE_SYSTEMD undefined).
//
//   NotifyReady("serving /var/lib/overlapd on 127.0.0.1:50051");  // READY=1
//   NotifyReloading(); ... NotifyReady("tokens reloaded");         // SIGHUP
//   NotifyStopping("draining");                                    // SIGTERM
#ifndef OVERLAPD_SERVICE_SYSTEMD_NOTIFY_H_
#define OVERLAPD_SERVICE_SYSTEMD_NOTIFY_H_

#include <string>

namespace overlapd {

// READY=1 with STATUS=`status`: systemctl start returns, dependants start.
void NotifyReady(const std::string& status);
// RELOADING=1: a reload (SIGHUP) has begun; NotifyReady ends it.
void NotifyReloading();
// STOPPING=1 with STATUS=`status`.
void NotifyStopping(const std::string& status);
// Whether overlapd runs under a notify-type unit ($NOTIFY_SOCKET is set).
bool UnderSystemd();

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_SYSTEMD_NOTIFY_H_
