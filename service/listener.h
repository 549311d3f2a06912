// The gRPC port's listening socket, kept by overlapd itself for plaintext
// listeners.
//
// gRPC 1.51's own listener stops accepting for good after one accept4(2)
// that fails with EMFILE or ENFILE (tcp_server_posix.cc treats it as a
// fatal error of the port): one burst of connections past the descriptor
// limit left a server that never accepted again. This listener accepts in
// a thread of its own and hands each connection to gRPC
// (grpc::AddInsecureChannelFromFd). At the descriptor limit it uses the
// classic spare-descriptor move (nginx, libev): close the spare, accept the
// waiting connection and close it at once (its client sees the connection
// refused instead of hanging), take the spare back, pause a moment, go on.
//
// TLS listeners and unix: addresses stay gRPC's (it has no API to hand it a
// TLS connection); the engine's descriptor budget (--max-open-files) keeps
// file operations from starving them.
//
// Example:
//
//   auto listener = Listener::Open("127.0.0.1:0");   // binds and listens
//   ... builder.BuildAndStart() without a listening port ...
//   (*listener)->Start(server.get());                // accepts from now on
//   (*listener)->Stop();                             // at SIGTERM
#ifndef OVERLAPD_SERVICE_LISTENER_H_
#define OVERLAPD_SERVICE_LISTENER_H_

#include <grpcpp/server.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "service/peer_table.h"

namespace overlapd {

class Listener {
 public:
  // Binds `address` ("HOST:PORT", "[V6]:PORT"; port 0 picks a free one) and
  // listens. INVALID_ARGUMENT for an address that does not parse,
  // UNAVAILABLE when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<Listener>> Open(const std::string& address);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  int port() const { return port_; }
  // The client address of each connection accepted (see peer_table.h).
  const PeerTable& peers() const { return peers_; }
  // Connections accepted when the descriptor limit was hit (and closed).
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }
  // Accepts connections for `server` on a thread of its own until Stop().
  void Start(grpc::Server* server);
  // Stops accepting and closes the socket (new connections are refused).
  // Idempotent.
  void Stop();

 private:
  Listener(int fd, int port);
  void AcceptLoop(grpc::Server* server);

  const int fd_;
  const int port_;
  int wake_fd_ = -1;
  int spare_fd_ = -1;
  std::atomic<uint64_t> refused_{0};
  PeerTable peers_;
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_LISTENER_H_
