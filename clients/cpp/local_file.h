// Local-file helpers of the transfers (upload.cc, download.cc): an owned
// descriptor, exact positional reads and writes, CRC32C of a range, and the
// rename that publishes a finished download. Internal to clients/cpp.
#ifndef OVERLAPD_CLIENTS_CPP_LOCAL_FILE_H_
#define OVERLAPD_CLIENTS_CPP_LOCAL_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace overlapd {
namespace internal {

// Owns a file descriptor; closes it on destruction. Close() reports the
// error of close(2), which for a written file can be the first sign of a
// failed write-back (e.g. NFS, quota).
class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd();
  int get() const { return fd_; }
  void reset(int fd);
  absl::Status Close(const std::string& what);

 private:
  int fd_ = -1;
};

// Reads exactly `len` bytes at `offset`. A short file means it changed under
// us after fstat: the upload would no longer match its plan (ABORTED).
absl::Status PreadExact(int fd, char* buf, uint64_t len, uint64_t offset,
                        const std::string& what);

// Reads up to `len` bytes from a stream (a pipe, stdin) into `buf`,
// stopping early only at end of input; returns the byte count.
absl::StatusOr<uint64_t> ReadFull(int fd, char* buf, uint64_t len,
                                  const std::string& what);

// Writes all of `data` at `offset`.
absl::Status PwriteAll(int fd, absl::string_view data, uint64_t offset,
                       const std::string& what);

// CRC32C of [offset, offset + length) of `fd`; a short file is ABORTED.
absl::StatusOr<uint32_t> LocalRangeCrc(int fd, uint64_t offset,
                                       uint64_t length, const std::string& what);

// fsync(2) of the file and of the directory that holds `path`, so that a
// rename into that directory is durable too.
absl::Status SyncFileAndDir(int fd, const std::string& path);

// unlink(2) that ignores a missing file; for cleanup after a failure.
void RemoveQuietly(const std::string& path);

// Size and mtime of a local file; INVALID_ARGUMENT when it is not a
// regular file.
struct LocalFileInfo {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};
absl::StatusOr<LocalFileInfo> StatRegularFile(int fd, const std::string& what);

}  // namespace internal
}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_LOCAL_FILE_H_
