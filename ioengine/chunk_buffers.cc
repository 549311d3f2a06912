#include "ioengine/chunk_buffers.h"

#include <utility>

namespace overlapd::io {

std::string ChunkBuffers::Take(uint64_t len) {
  std::string buffer;
  if (len >= kMinBytes) {
    absl::MutexLock lock(&mu_);
    // A buffer much bigger than asked for would hold more memory than the
    // read credit counts for its chunk: those wait for a chunk their size.
    if (!free_.empty() && free_.back().capacity() <= 2 * len) {
      buffer = std::move(free_.back());
      free_.pop_back();
      kept_bytes_ -= buffer.capacity();
    }
  }
  buffer.resize(len);  // fills only what grows
  return buffer;
}

void ChunkBuffers::Give(std::string buffer) {
  if (buffer.capacity() < kMinBytes) return;
  absl::MutexLock lock(&mu_);
  if (kept_bytes_ + buffer.capacity() > max_bytes_) return;
  kept_bytes_ += buffer.capacity();
  free_.push_back(std::move(buffer));
}

uint64_t ChunkBuffers::kept_bytes() const {
  absl::MutexLock lock(&mu_);
  return kept_bytes_;
}

}  // namespace overlapd::io
