// Folding the CRC32Cs of chunks that finish in any order into the CRC of the
// whole range, in file order.
#ifndef OVERLAPD_IOENGINE_CRC_FOLDER_H_
#define OVERLAPD_IOENGINE_CRC_FOLDER_H_

#include <cstdint>
#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "ioengine/crc32c.h"

namespace overlapd::io::internal {

// The CRC32C of a read or copy, combined chunk by chunk in file order while
// chunks finish in any order. Holds only the chunks that finished ahead of
// an earlier one, so its memory is bounded by the chunks in flight, not by
// the size of the file. Thread-safe.
class CrcFolder {
 public:
  void Reset();
  // Chunk `index` (0, 1, 2, ... in file order) has `len` bytes with `crc`.
  void Add(uint64_t index, uint32_t crc, uint64_t len, const Crc32cCombiner& full);
  // The CRC of every chunk added, in order (all must have been added).
  uint32_t value() const;

 private:
  mutable absl::Mutex mu_;
  uint32_t crc_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<uint64_t, std::pair<uint32_t, uint64_t>> ahead_ ABSL_GUARDED_BY(mu_);
};

}  // namespace overlapd::io::internal

#endif  // OVERLAPD_IOENGINE_CRC_FOLDER_H_
