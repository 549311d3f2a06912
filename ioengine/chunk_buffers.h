// Read buffers recycled between the engine, which reads chunks into them,
// and whoever consumed the chunk (an event stream, once its message is on
// the wire), so that a chunk's memory is neither allocated nor zero-filled
// again for the next one. std::string because that is what a chunk becomes
// (the event's `data`, moved, not copied).
//
//   std::string buf = pool.Take(1 << 20);   // size() == 1 MiB, old bytes
//   ... read into buf.data() ...
//   pool.Give(std::move(buf));              // kept while under the cap
//
// Only buffers of at least kMinBytes are kept: a small read's allocation
// and fill cost less than the pool's lock. Thread-safe.
#ifndef OVERLAPD_IOENGINE_CHUNK_BUFFERS_H_
#define OVERLAPD_IOENGINE_CHUNK_BUFFERS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace overlapd::io {

class ChunkBuffers {
 public:
  static constexpr uint64_t kMinBytes = 64 << 10;

  // Keeps at most `max_bytes` of capacity; 0 keeps nothing.
  explicit ChunkBuffers(uint64_t max_bytes) : max_bytes_(max_bytes) {}

  // A buffer of exactly `len` bytes whose contents are whatever it last
  // held: only bytes past a recycled buffer's old size are zero-filled. A
  // recycled buffer is used only when its capacity is at most twice `len`
  // (the memory a chunk holds stays close to what its read credit counts).
  std::string Take(uint64_t len);
  // Hands a buffer back for a later Take; freed if the pool is full or the
  // buffer is smaller than kMinBytes.
  void Give(std::string buffer);

  uint64_t kept_bytes() const;

 private:
  const uint64_t max_bytes_;
  mutable absl::Mutex mu_;
  std::vector<std::string> free_ ABSL_GUARDED_BY(mu_);  // a stack: the warmest on top
  uint64_t kept_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // their capacity
};

}  // namespace overlapd::io

#endif  // OVERLAPD_IOENGINE_CHUNK_BUFFERS_H_
