#include "clients/cpp/local_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "clients/cpp/client_internal.h"
#include "ioengine/crc32c.h"

namespace overlapd {
namespace internal {

ScopedFd::~ScopedFd() {
  if (fd_ >= 0) ::close(fd_);
}

void ScopedFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

absl::Status ScopedFd::Close(const std::string& what) {
  const int fd = fd_;
  fd_ = -1;
  if (fd >= 0 && ::close(fd) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("close ", what));
  }
  return absl::OkStatus();
}

absl::Status PreadExact(int fd, char* buf, uint64_t len, uint64_t offset,
                        const std::string& what) {
  while (len > 0) {
    const ssize_t n = ::pread(fd, buf, len, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("read ", what));
    }
    if (n == 0) {
      return absl::AbortedError(
          absl::StrCat(what, ": file shrank while it was being read"));
    }
    buf += n;
    len -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> ReadFull(int fd, char* buf, uint64_t len,
                                  const std::string& what) {
  uint64_t done = 0;
  while (done < len) {
    const ssize_t n = ::read(fd, buf + done, len - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("read ", what));
    }
    if (n == 0) break;
    done += static_cast<uint64_t>(n);
  }
  return done;
}

absl::Status PwriteAll(int fd, absl::string_view data, uint64_t offset,
                       const std::string& what) {
  while (!data.empty()) {
    const ssize_t n =
        ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("write ", what));
    }
    data.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> LocalRangeCrc(int fd, uint64_t offset,
                                       uint64_t length,
                                       const std::string& what) {
  constexpr uint64_t kStep = 1u << 20;
  std::string buf(std::min(length, kStep), '\0');
  uint32_t crc = 0;
  for (uint64_t done = 0; done < length;) {
    const uint64_t n = std::min(kStep, length - done);
    absl::Status read = PreadExact(fd, buf.data(), n, offset + done, what);
    if (!read.ok()) return read;
    crc = io::Crc32c(buf.data(), n, crc);
    done += n;
  }
  return crc;
}

absl::Status SyncFileAndDir(int fd, const std::string& path) {
  if (::fsync(fd) != 0) return absl::ErrnoToStatus(errno, absl::StrCat("fsync ", path));
  const std::string dir = ParentDir(path);
  ScopedFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", dir));
  if (::fsync(dir_fd.get()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("fsync ", dir));
  }
  return absl::OkStatus();
}

void RemoveQuietly(const std::string& path) { ::unlink(path.c_str()); }

absl::StatusOr<LocalFileInfo> StatRegularFile(int fd, const std::string& what) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("stat ", what));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": not a regular file"));
  }
  return LocalFileInfo{static_cast<uint64_t>(st.st_size),
                       static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
                           st.st_mtim.tv_nsec};
}

}  // namespace internal
}  // namespace overlapd
