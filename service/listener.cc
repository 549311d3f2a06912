#include "service/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpcpp/server_posix.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "service/address.h"

namespace overlapd {
namespace {

constexpr int kBacklog = 1024;

int OpenSpare() { return open("/dev/null", O_RDONLY | O_CLOEXEC); }

}  // namespace

absl::StatusOr<std::unique_ptr<Listener>> Listener::Open(const std::string& address) {
  absl::StatusOr<HostPort> parsed = ParseHostPort("--listen", address);
  if (!parsed.ok()) return parsed.status();
  const std::string& host = parsed->host;
  const std::string port = std::to_string(parsed->port);
  struct addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  struct addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen ", address, ": ", gai_strerror(rc)));
  }
  std::string last_error = "no address";
  for (struct addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, kBacklog) != 0) {
      last_error = strerror(errno);
      close(fd);
      continue;
    }
    struct sockaddr_storage bound = {};
    socklen_t len = sizeof(bound);
    getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
    const int bound_port =
        bound.ss_family == AF_INET6
            ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
            : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    freeaddrinfo(found);
    return std::unique_ptr<Listener>(new Listener(fd, bound_port));
  }
  freeaddrinfo(found);
  return absl::UnavailableError(absl::StrCat("cannot listen on ", address, ": ", last_error));
}

Listener::Listener(int fd, int port)
    : fd_(fd), port_(port), wake_fd_(eventfd(0, EFD_CLOEXEC)), spare_fd_(OpenSpare()) {}

Listener::~Listener() {
  Stop();
  if (wake_fd_ >= 0) close(wake_fd_);
  if (spare_fd_ >= 0) close(spare_fd_);
}

void Listener::Start(grpc::Server* server) {
  thread_ = std::thread([this, server] { AcceptLoop(server); });
}

void Listener::Stop() {
  if (stopped_) return;
  stopped_ = true;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  close(fd_);
}

void Listener::AcceptLoop(grpc::Server* server) {
  struct pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0 && errno != EINTR) {
      spdlog::error("listener: poll: {}", strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;  // Stop()
    for (;;) {
      struct sockaddr_storage peer = {};
      socklen_t peer_len = sizeof(peer);
      int conn = accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &peer_len,
                         SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (conn >= 0) {
        peers_.Set(conn, peer, peer_len);
        int one = 1;
        setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        grpc::AddInsecureChannelFromFd(server, conn);
        continue;
      }
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) break;
      if (errno == EMFILE || errno == ENFILE) {
        // Out of descriptors: refuse the one waiting (so it does not hang),
        // with the spare that was kept for this, then pause: connections
        // or cached files will give some back.
        if (spare_fd_ >= 0) {
          close(spare_fd_);
          spare_fd_ = -1;
          int refused = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
          if (refused >= 0) close(refused);
          spare_fd_ = OpenSpare();
        }
        if (refused_.fetch_add(1, std::memory_order_relaxed) % 1000 == 0) {
          spdlog::warn("listener: out of file descriptors ({}); refusing connections until "
                       "some close (--max-open-files)", strerror(errno));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        break;
      }
      spdlog::warn("listener: accept: {}", strerror(errno));
      break;
    }
  }
}

}  // namespace overlapd
