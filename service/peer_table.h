// Who is at the other end of each connection overlapd accepted itself.
//
// Connections the plaintext listener (listener.h) hands to gRPC with
// AddInsecureChannelFromFd carry the peer name "fd:N" inside gRPC
// (chttp2_server.cc names the endpoint after the descriptor), so
// ServerContext::peer() cannot say who called. The listener records the
// address it got from accept4 under the descriptor, in gRPC's own spelling
// ("ipv4:127.0.0.1:40112", "ipv6:[::1]:40112"), and the access log
// (access_log.h) resolves "fd:N" through this table. A descriptor number is
// reused only after gRPC closed the connection it named, and every call on
// that connection was looked up before then, so an entry is never read for
// the wrong client.
//
// Thread-safe: the listener thread writes, gRPC threads read.
#ifndef OVERLAPD_SERVICE_PEER_TABLE_H_
#define OVERLAPD_SERVICE_PEER_TABLE_H_

#include <sys/socket.h>

#include <string>
#include "absl/strings/string_view.h"
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include <unordered_map>

namespace overlapd {

class PeerTable {
 public:
  // Records the peer of connection `fd` (replacing what an earlier
  // connection on the same number left).
  void Set(int fd, const struct sockaddr_storage& addr, socklen_t len);

  // `grpc_peer` as the access log should show it: "fd:N" becomes the
  // recorded address; anything else (TLS and unix listeners, which gRPC
  // accepts itself) is returned as it is.
  std::string Resolve(absl::string_view grpc_peer) const;

  // gRPC's spelling of an address: "ipv4:1.2.3.4:5", "ipv6:[::1]:5",
  // "unix:PATH"; "unknown" for other families.
  static std::string Format(const struct sockaddr_storage& addr, socklen_t len);

 private:
  mutable absl::Mutex mu_;
  std::unordered_map<int, std::string> peers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_PEER_TABLE_H_
