#include "service/buffer_lane.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/strip.h"
#include "ioengine/status_macros.h"
#include "absl/strings/str_cat.h"
#include "service/startup.h"

namespace overlapd {

namespace {

// Connections open at once; one more is told so and closed. Each costs a
// descriptor and a poll slot, and can map --max-buffer-bytes.
constexpr size_t kMaxConnections = 1024;
// A request is "register" and a token: far below this.
constexpr size_t kMaxRequestBytes = 4096;
// Descriptors a request may carry before it is refused (all are closed).
constexpr int kMaxFds = 4;

absl::StatusOr<sockaddr_un> UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--buffer-socket: \"", path, "\" must be 1 to ", sizeof(addr.sun_path) - 1, " bytes"));
  }
  memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// A socket file left by a server that is gone is replaced; a live one, or
// anything that is not a socket, is not.
absl::Status ClearStale(const std::string& path, const sockaddr_un& addr) {
  struct stat sb;
  if (lstat(path.c_str(), &sb) != 0) return absl::OkStatus();
  if (!S_ISSOCK(sb.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("--buffer-socket: \"", path, "\" exists and is not a socket"));
  }
  int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  const bool live =
      probe >= 0 && connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  if (probe >= 0) close(probe);
  if (live) {
    return absl::FailedPreconditionError(
        absl::StrCat("--buffer-socket: \"", path, "\" is in use by another server"));
  }
  unlink(path.c_str());
  return absl::OkStatus();
}

absl::StatusOr<int> Listen(const std::string& path) {
  absl::StatusOr<sockaddr_un> addr = UnixAddress(path);
  if (!addr.ok()) return addr.status();
  OVERLAPD_RETURN_IF_ERROR(ClearStale(path, *addr));
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("buffer lane: socket: ", strerror(errno)));
  if (bind(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0 ||
      chmod(path.c_str(), 0660) != 0 || listen(fd, 64) != 0) {
    const int err = errno;
    close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("--buffer-socket: \"", path, "\": ", strerror(err)));
  }
  return fd;
}

std::string Refusal(const absl::Status& status) {
  return absl::StrCat("error ", absl::StatusCodeToString(status.code()), " ", status.message());
}

}  // namespace

struct BufferLane::Conn {
  int fd = -1;
  uint64_t id = 0;
};

void AddBufferLaneFlags(CLI::App& app, ServerConfig& config) {
  app.add_option_function<std::string>(
      "--buffer-socket", [&config](const std::string& path) { config.buffer_socket = path; },
      "Unix socket of the buffer lane (same-host shared memory); default ROOT.sock beside "
      "the root, empty turns the lane off");
  app.add_option("--max-buffer-bytes", config.max_buffer_bytes,
                 "Bytes of shared buffers one buffer-lane connection may register")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  app.add_option("--max-buffer-total-bytes", config.max_buffer_total_bytes,
                 "Bytes of shared buffers all buffer-lane connections together may have "
                 "mapped (the server writes into them: they count as its memory)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
}

absl::StatusOr<std::unique_ptr<BufferLane>> BufferLane::Start(const std::string& path,
                                                              BufferBudget budget,
                                                              const TokenStore* tokens,
                                                              prometheus::Registry* metrics) {
  absl::StatusOr<int> listen_fd = Listen(path);
  if (!listen_fd.ok()) return listen_fd.status();
  int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) {
    close(*listen_fd);
    unlink(path.c_str());
    return absl::InternalError(absl::StrCat("buffer lane: eventfd: ", strerror(errno)));
  }
  std::unique_ptr<BufferLane> lane(
      new BufferLane(path, *listen_fd, wake_fd, budget, tokens, metrics));
  lane->thread_ = std::thread([l = lane.get()] { l->Loop(); });
  return lane;
}

BufferLane::BufferLane(std::string path, int listen_fd, int wake_fd, BufferBudget budget,
                       const TokenStore* tokens, prometheus::Registry* metrics)
    : path_(std::move(path)),
      listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      tokens_(tokens),
      registry_(budget, metrics),
      conns_(new Conn[kMaxConnections]) {}

BufferLane::~BufferLane() {
  stop_.store(true);
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  for (size_t i = 0; i < nconns_; ++i) {
    close(conns_[i].fd);
    registry_.Close(conns_[i].id);
  }
  close(listen_fd_);
  close(wake_fd_);
  unlink(path_.c_str());
}

// One poll over the wake-up eventfd, the listening socket and every
// connection; a connection that hangs up or breaks the protocol is closed
// and its buffers released.
void BufferLane::Loop() {
  std::vector<pollfd> fds;
  while (!stop_.load()) {
    fds.assign({{wake_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}});
    for (size_t i = 0; i < nconns_; ++i) fds.push_back({conns_[i].fd, POLLIN, 0});
    if (poll(fds.data(), fds.size(), -1) < 0) continue;  // EINTR
    if (fds[1].revents != 0) Accept();
    // Backwards: closing swaps the last connection into the freed slot.
    for (size_t i = fds.size() - 1; i >= 2; --i) {
      if (fds[i].revents == 0) continue;
      Conn& conn = conns_[i - 2];
      if (Serve(conn)) continue;
      spdlog::info("buffer lane: connection {} closed, its buffers released", conn.id);
      // The socket first: once the gauges say released, its descriptor is gone.
      close(conn.fd);
      registry_.Close(conn.id);
      conn = conns_[--nconns_];
    }
  }
}

void BufferLane::Accept() {
  int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;  // EAGAIN, or a connection that went away; ENFILE retried next poll
  if (nconns_ == kMaxConnections) {
    std::string no = Refusal(absl::ResourceExhaustedError("too many buffer-lane connections"));
    send(fd, no.data(), no.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    close(fd);
    return;
  }
  Conn& conn = conns_[nconns_++];
  conn.fd = fd;
  conn.id = registry_.Open();
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    spdlog::info("buffer lane: connection {} from uid {} pid {}", conn.id, cred.uid, cred.pid);
  }
}

bool BufferLane::Serve(Conn& conn) {
  char data[kMaxRequestBytes];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  iovec iov{data, sizeof(data)};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  const ssize_t n = recvmsg(conn.fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  int fds[kMaxFds];
  int nfds = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const int count = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < count && nfds < kMaxFds; ++i) {
      memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
  }
  if (n == 0 && nfds == 0) return false;  // the client closed
  std::string answer =
      (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0
          ? Refusal(absl::InvalidArgumentError(absl::StrCat(
                "a request is one message of at most ", kMaxRequestBytes, " bytes and ",
                "one descriptor")))
          : Answer(conn, std::string(data, static_cast<size_t>(n)), fds, nfds);
  for (int i = 0; i < nfds; ++i) close(fds[i]);  // a registered buffer stays mapped
  return send(conn.fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT) ==
         static_cast<ssize_t>(answer.size());
}

std::string BufferLane::Answer(Conn& conn, const std::string& request, int* fds, int nfds) {
  absl::string_view rest = request;
  while (absl::ConsumeSuffix(&rest, "\n")) {
  }
  if (!absl::ConsumePrefix(&rest, "register")) {
    return Refusal(absl::InvalidArgumentError("unknown request; expected \"register [TOKEN]\""));
  }
  absl::ConsumePrefix(&rest, " ");
  std::string owner;
  if (tokens_ != nullptr) {
    absl::StatusOr<std::shared_ptr<const Grant>> grant = tokens_->Find(rest);
    if (!grant.ok()) {
      spdlog::warn("buffer lane: connection {}: registration refused: {}", conn.id,
                   std::string(grant.status().message()));
      return Refusal(grant.status());
    }
    owner = BufferOwnerOf(grant->get());
  }
  if (nfds != 1) {
    return Refusal(absl::InvalidArgumentError(
        absl::StrCat("a registration carries one descriptor (SCM_RIGHTS), not ", nfds)));
  }
  absl::StatusOr<BufferRegistry::Registration> reg = registry_.Register(conn.id, fds[0], owner);
  if (!reg.ok()) {
    spdlog::warn("buffer lane: connection {}: registration refused: {}", conn.id,
                 std::string(reg.status().message()));
    return Refusal(reg.status());
  }
  return absl::StrCat("ok ", absl::BytesToHexString(reg->handle), " ", reg->bytes);
}

absl::StatusOr<std::unique_ptr<BufferLane>> StartBufferLane(const ServerConfig& config,
                                                            ServiceContext& ctx) {
  std::string path;
  if (config.buffer_socket.has_value()) {
    path = *config.buffer_socket;
    if (path.empty()) return std::unique_ptr<BufferLane>();
  } else {
    path = BesideRoot(config.root, ".sock");
  }
  // GetCapabilities reports where to connect from any directory.
  if (path[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) != nullptr) path = absl::StrCat(cwd, "/", path);
  }
  const BufferBudget budget{config.max_buffer_bytes, config.max_buffer_total_bytes};
  auto lane = BufferLane::Start(path, budget, ctx.tokens,
                                ctx.metrics != nullptr ? ctx.metrics->registry().get() : nullptr);
  if (!lane.ok()) return lane.status();
  ctx.buffers = &(*lane)->registry();
  ctx.buffer_socket = path;
  spdlog::info("buffer lane on {} (up to {} bytes of buffers per connection, {} in all)", path,
               config.max_buffer_bytes, config.max_buffer_total_bytes);
  return lane;
}

}  // namespace overlapd
