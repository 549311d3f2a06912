#include "ioengine/mapped_buffer.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "absl/strings/str_cat.h"

namespace overlapd::io {

absl::StatusOr<std::unique_ptr<MappedBuffer>> MappedBuffer::Map(int fd, uint64_t max_bytes) {
  const int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the descriptor is not a memfd (F_GET_SEALS: ", strerror(errno),
        "); send one made by memfd_create(MFD_ALLOW_SEALING)"));
  }
  if ((seals & F_SEAL_SHRINK) == 0) {
    return absl::FailedPreconditionError(
        "the memfd is not sealed with F_SEAL_SHRINK (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK)): "
        "a buffer that can shrink under the server's mapping is refused");
  }
  if ((seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) != 0) {
    return absl::InvalidArgumentError("the memfd is sealed against writes: reads could not land in it");
  }
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || (flags & O_ACCMODE) != O_RDWR) {
    return absl::InvalidArgumentError("the memfd must be open for reading and writing");
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("fstat of the memfd: ", strerror(errno)));
  }
  const auto size = static_cast<uint64_t>(sb.st_size);
  if (size == 0) return absl::InvalidArgumentError("the memfd is empty: size it (ftruncate) first");
  if (size > max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the buffer is ", size, " bytes; this connection may register ", max_bytes,
        " more (--max-buffer-bytes)"));
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    return absl::InvalidArgumentError(absl::StrCat("mmap of the memfd: ", strerror(errno)));
  }
  return std::unique_ptr<MappedBuffer>(new MappedBuffer(static_cast<char*>(p), size));
}

MappedBuffer::~MappedBuffer() { munmap(data_, size_); }

}  // namespace overlapd::io
