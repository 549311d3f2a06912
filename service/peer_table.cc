#include "service/peer_table.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace overlapd {

void PeerTable::Set(int fd, const struct sockaddr_storage& addr, socklen_t len) {
  std::string peer = Format(addr, len);
  absl::MutexLock lock(&mu_);
  peers_[fd] = std::move(peer);
}

std::string PeerTable::Resolve(absl::string_view grpc_peer) const {
  absl::string_view rest = grpc_peer;
  int fd = -1;
  if (!absl::ConsumePrefix(&rest, "fd:") || !absl::SimpleAtoi(rest, &fd)) {
    return std::string(grpc_peer);
  }
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(fd);
  return it == peers_.end() ? std::string(grpc_peer) : it->second;
}

std::string PeerTable::Format(const struct sockaddr_storage& addr, socklen_t len) {
  char host[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    return absl::StrCat("ipv4:", host, ":", ntohs(in->sin_port));
  }
  if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    return absl::StrCat("ipv6:[", host, "]:", ntohs(in6->sin6_port));
  }
  if (addr.ss_family == AF_UNIX && len > sizeof(sa_family_t)) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&addr);
    return absl::StrCat("unix:", absl::string_view(un->sun_path, strnlen(un->sun_path,
                                                                       sizeof(un->sun_path))));
  }
  return "unknown";
}

}  // namespace overlapd
