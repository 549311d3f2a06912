// The buffer lane's registration server: same-host clients hand the server
// their memory over a Unix socket, then name it in Read.into / Write.from
// (overlapd.proto, BufferRef), and the engine moves the bytes straight
// between the file and that memory. gRPC stays the control plane: it cannot
// carry memory or descriptors.
//
// The protocol (SOCK_SEQPACKET: one message per request and per answer):
//
//   client: "register" or "register TOKEN" (TOKEN: a bearer token of
//           --tokens, required when tokens are on), with one descriptor in
//           SCM_RIGHTS: a memfd (memfd_create with MFD_ALLOW_SEALING), sized
//           and sealed with F_SEAL_SHRINK
//   server: "ok HANDLE SIZE" (HANDLE: 32 hex digits, the 16 bytes of
//           BufferRef.handle; SIZE: the bytes mapped), or
//           "error CODE MESSAGE" (CODE: a canonical code's name, e.g.
//           FAILED_PRECONDITION, UNAUTHENTICATED, RESOURCE_EXHAUSTED)
//
// A connection may register several buffers, up to --max-buffer-bytes in
// all; they live as long as the connection. Closing it (or the client
// exiting) releases them: each is unmapped once the last op using it has
// finished. The peer's uid and pid (SO_PEERCRED) are logged per connection.
//
// Security: the socket file is mode 0660 (the server's user and group);
// a buffer handle is 128 random bits; with --tokens a buffer belongs to the
// token that registered it, and a batch carrying another token cannot name
// it (PERMISSION_DENIED). The memory is the client's: the server maps only
// what the client sent, and never follows a path or another descriptor.
#ifndef OVERLAPD_SERVICE_BUFFER_LANE_H_
#define OVERLAPD_SERVICE_BUFFER_LANE_H_

#include <prometheus/registry.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "service/auth.h"
#include "service/buffer_registry.h"
#include "service/config.h"
#include "service/service_context.h"

namespace CLI {
class App;
}

namespace overlapd {

// --buffer-socket PATH (default ROOT.sock beside the root; "" turns the lane
// off) and --max-buffer-bytes SIZE, into `config`.
void AddBufferLaneFlags(CLI::App& app, ServerConfig& config);

// Listens on a Unix socket and registers buffers in its registry.
//
// Threads: one thread of its own polls the listening socket and every
// connection; a request is a few system calls (recvmsg, fcntl, fstat, mmap,
// sendmsg), none of which waits on a client (every socket is non-blocking).
// The registry is shared with the gRPC threads that resolve batches.
//
// Lifetime: the destructor stops the thread, closes every connection
// (releasing their buffers) and removes the socket file. The registry is
// destroyed with the lane: destroy the lane after everything that may hold
// a pin (the engine's ops, jobs).
class BufferLane {
 public:
  // Binds `path` (a stale socket file there, one no server answers on, is
  // replaced; anything else is an error), makes it mode 0660, starts the
  // thread. `tokens`: null when tokens are off. `metrics`: for the
  // registry's gauges, may be null.
  static absl::StatusOr<std::unique_ptr<BufferLane>> Start(const std::string& path,
                                                          BufferBudget budget,
                                                          const TokenStore* tokens,
                                                          prometheus::Registry* metrics);
  ~BufferLane();
  BufferLane(const BufferLane&) = delete;
  BufferLane& operator=(const BufferLane&) = delete;

  const BufferRegistry& registry() const { return registry_; }
  const std::string& path() const { return path_; }

 private:
  struct Conn;
  BufferLane(std::string path, int listen_fd, int wake_fd, BufferBudget budget,
             const TokenStore* tokens, prometheus::Registry* metrics);
  void Loop();
  void Accept();
  // Handles what `conn` sent; false when the connection is to be closed.
  bool Serve(Conn& conn);
  std::string Answer(Conn& conn, const std::string& request, int* fds, int nfds);

  const std::string path_;
  const int listen_fd_;
  const int wake_fd_;
  const TokenStore* const tokens_;
  BufferRegistry registry_;
  std::unique_ptr<Conn[]> conns_;  // the lane thread's only
  size_t nconns_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// main.cc's one call: starts the lane `config` asks for, and tells `ctx`
// (ctx.buffers, ctx.buffer_socket). Null when the lane is off. An error
// names the flag.
absl::StatusOr<std::unique_ptr<BufferLane>> StartBufferLane(const ServerConfig& config,
                                                            ServiceContext& ctx);

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_BUFFER_LANE_H_
