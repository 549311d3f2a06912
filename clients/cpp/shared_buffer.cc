#include "clients/cpp/shared_buffer.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace overlapd {

namespace {

absl::StatusOr<int> ConnectLane(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("buffer socket \"", path, "\": bad path"));
  }
  memcpy(addr.sun_path, path.data(), path.size());
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("buffer socket \"", path, "\": ", strerror(err)));
  }
  return fd;
}

absl::Status SendFd(int conn, const std::string& request, int fd) {
  iovec iov{const_cast<char*>(request.data()), request.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  if (sendmsg(conn, &msg, MSG_NOSIGNAL) < 0) return absl::ErrnoToStatus(errno, "buffer lane: send");
  return absl::OkStatus();
}

// "ok HANDLE SIZE" or "error CODE MESSAGE".
absl::StatusOr<LaneRegistration> ParseAnswer(const std::string& answer) {
  std::vector<std::string> words = absl::StrSplit(answer, absl::MaxSplits(' ', 2));
  if (words.size() == 3 && words[0] == "ok") {
    LaneRegistration reg;
    reg.handle = absl::HexStringToBytes(words[1]);
    if (reg.handle.size() == 16 && absl::SimpleAtoi(words[2], &reg.bytes)) return reg;
  }
  if (words.size() >= 2 && words[0] == "error") {
    absl::StatusCode code = absl::StatusCode::kUnknown;
    for (int c = 1; c <= 16; ++c) {
      if (absl::StatusCodeToString(static_cast<absl::StatusCode>(c)) == words[1]) {
        code = static_cast<absl::StatusCode>(c);
      }
    }
    return absl::Status(code, words.size() == 3 ? words[2] : "");
  }
  return absl::InternalError(absl::StrCat("buffer lane: unexpected answer \"", answer, "\""));
}

}  // namespace

absl::StatusOr<LaneRegistration> RegisterLaneFd(const std::string& socket_path, int fd,
                                                const std::string& token) {
  absl::StatusOr<int> conn = ConnectLane(socket_path);
  if (!conn.ok()) return conn.status();
  std::string request = token.empty() ? "register" : absl::StrCat("register ", token);
  absl::Status sent = SendFd(*conn, request, fd);
  char answer[4096];
  ssize_t n = sent.ok() ? recv(*conn, answer, sizeof(answer), 0) : -1;
  if (n <= 0) {
    close(*conn);
    if (!sent.ok()) return sent;
    return absl::UnavailableError("buffer lane: the server closed the connection");
  }
  absl::StatusOr<LaneRegistration> reg = ParseAnswer(std::string(answer, static_cast<size_t>(n)));
  if (!reg.ok()) {
    close(*conn);
    return reg.status();
  }
  reg->conn_fd = *conn;
  return reg;
}

absl::StatusOr<std::unique_ptr<SharedBuffer>> SharedBuffer::Create(uint64_t size,
                                                                   const Options& options) {
  if (size == 0) return absl::InvalidArgumentError("a shared buffer needs at least one byte");
  unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING | (options.huge_pages ? MFD_HUGETLB : 0);
  int fd = memfd_create("overlapd-buffer", flags);
  if (fd < 0) return absl::ErrnoToStatus(errno, "memfd_create");
  // Sized, then sealed against shrinking: the server maps it, and a
  // shrink would make its mapping fault (SIGBUS).
  if (ftruncate(fd, static_cast<off_t>(size)) != 0 ||
      fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
    const int err = errno;
    close(fd);
    return absl::ErrnoToStatus(err, "sizing and sealing the memfd");
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                 MAP_SHARED | (options.populate ? MAP_POPULATE : 0), fd, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    close(fd);
    return absl::ErrnoToStatus(err, "mmap of the memfd");
  }
  return std::unique_ptr<SharedBuffer>(new SharedBuffer(fd, static_cast<char*>(p), size));
}

SharedBuffer::~SharedBuffer() {
  Unregister();
  munmap(data_, size_);
  close(fd_);
}

absl::Status SharedBuffer::Register(const std::string& socket_path, const std::string& token) {
  Unregister();
  absl::StatusOr<LaneRegistration> reg = RegisterLaneFd(socket_path, fd_, token);
  if (!reg.ok()) return reg.status();
  conn_fd_ = reg->conn_fd;
  handle_ = reg->handle;
  return absl::OkStatus();
}

void SharedBuffer::Unregister() {
  if (conn_fd_ >= 0) close(conn_fd_);
  conn_fd_ = -1;
  handle_.clear();
}

absl::Status LaneReachable(bool lane_on, const std::string& socket_path) {
  if (!lane_on || socket_path.empty()) {
    return absl::FailedPreconditionError("the server's buffer lane is off");
  }
  absl::StatusOr<int> conn = ConnectLane(socket_path);
  if (!conn.ok()) {
    return absl::UnavailableError(absl::StrCat(
        conn.status().message(), " (the buffer lane needs the server on this host)"));
  }
  close(*conn);
  return absl::OkStatus();
}

}  // namespace overlapd
