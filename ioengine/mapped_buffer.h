// A client's memory, mapped into the server: the engine side of the buffer
// lane (same-host shared memory). A client creates a memfd, seals it against
// shrinking and hands its descriptor over a Unix socket; MappedBuffer checks
// it and maps it, and ops then read into it or write from it (io::Op::buffer)
// with no buffer of the engine's own in between.
//
// Why the checks: a mapping of a file that shrinks underneath it raises
// SIGBUS on the next access, which would kill the server. F_SEAL_SHRINK
// makes shrinking impossible for good (the seal cannot be removed), so the
// mapped range stays backed for the mapping's whole life. Only memfds (and
// other shmem files that support seals) carry seals: a regular file, a
// socket or a pipe fails F_GET_SEALS and is refused.
//
// Example:
//
//   absl::StatusOr<std::unique_ptr<MappedBuffer>> buf = MappedBuffer::Map(fd, 1 << 30);
//   if (!buf.ok()) return buf.status();   // INVALID_ARGUMENT, FAILED_PRECONDITION, ...
//   close(fd);                            // the mapping keeps the memory
//   op.buffer = (*buf)->data();
//   op.buffer_bytes = (*buf)->size();
#ifndef OVERLAPD_IOENGINE_MAPPED_BUFFER_H_
#define OVERLAPD_IOENGINE_MAPPED_BUFFER_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"

namespace overlapd::io {

class MappedBuffer {
 public:
  // Checks `fd` (not taken: the caller closes it) and maps all of it,
  // shared, readable and writable:
  //   INVALID_ARGUMENT     not a sealable memfd (a regular file, a socket,
  //                        a pipe), not open for reading and writing,
  //                        sealed against writes, or empty
  //   FAILED_PRECONDITION  not sealed with F_SEAL_SHRINK
  //   RESOURCE_EXHAUSTED   larger than `max_bytes`
  static absl::StatusOr<std::unique_ptr<MappedBuffer>> Map(int fd, uint64_t max_bytes);

  MappedBuffer(const MappedBuffer&) = delete;
  MappedBuffer& operator=(const MappedBuffer&) = delete;
  // Unmaps. The owner keeps it until nothing can still read or write it.
  ~MappedBuffer();

  char* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  MappedBuffer(char* data, uint64_t size) : data_(data), size_(size) {}

  char* const data_;
  const uint64_t size_;
};

}  // namespace overlapd::io

#endif  // OVERLAPD_IOENGINE_MAPPED_BUFFER_H_
