#include "ioengine/crc_folder.h"

#include <tuple>

#include "absl/synchronization/mutex.h"

namespace overlapd::io::internal {

void CrcFolder::Reset() {
  absl::MutexLock lock(&mu_);
  crc_ = 0;
  next_ = 0;
  ahead_.clear();
}

void CrcFolder::Add(uint64_t index, uint32_t crc, uint64_t len, const Crc32cCombiner& full) {
  absl::MutexLock lock(&mu_);
  if (index != next_) {
    ahead_.emplace(index, std::make_pair(crc, len));
    return;
  }
  for (;;) {
    crc_ = len == full.len() ? full.Combine(crc_, crc) : Crc32cCombine(crc_, crc, len);
    ++next_;
    auto it = ahead_.find(next_);
    if (it == ahead_.end()) return;
    std::tie(crc, len) = it->second;
    ahead_.erase(it);
  }
}

uint32_t CrcFolder::value() const {
  absl::MutexLock lock(&mu_);
  return crc_;
}

}  // namespace overlapd::io::internal
