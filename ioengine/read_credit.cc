// ReadCredit (engine.h): the bytes of reads in flight a consumer may hold,
// with an optional server-wide parent.
#include <algorithm>

#include "absl/synchronization/mutex.h"
#include "ioengine/engine_core.h"

namespace overlapd::io {

bool ReadCredit::TakeOrPark(uint64_t bytes, Op* op) {
  absl::MutexLock lock(&mu_);
  if (used_ != 0 && used_ + bytes > limit_) {
    parked_.push_back(op);
    return false;
  }
  if (parent_ != nullptr && !parent_->TakeOrPark(bytes, op)) return false;
  used_ += bytes;
  return true;
}

void ReadCredit::Release(uint64_t bytes) {
  std::vector<Op*> wake;
  {
    absl::MutexLock lock(&mu_);
    bytes = std::min(bytes, used_);
    used_ -= bytes;
    if (!parked_.empty() && used_ < limit_) wake.swap(parked_);
  }
  if (parent_ != nullptr) parent_->Release(bytes);
  // Each resumed op takes what it can and parks again if it finds too little.
  for (Op* op : wake) op->state.engine->Resume(op);
}

void ReadCredit::WakeAll() {
  std::vector<Op*> wake;
  {
    absl::MutexLock lock(&mu_);
    wake.swap(parked_);
  }
  for (Op* op : wake) op->state.engine->Resume(op);
}

void ReadCredit::Open() {
  {
    absl::MutexLock lock(&mu_);
    limit_ = UINT64_MAX;
  }
  WakeAll();
  if (parent_ != nullptr) parent_->WakeAll();
}

uint64_t ReadCredit::in_use() const {
  absl::MutexLock lock(&mu_);
  return used_;
}

size_t ReadCredit::parked() const {
  absl::MutexLock lock(&mu_);
  return parked_.size();
}

uint64_t ReadCredit::limit() const {
  absl::MutexLock lock(&mu_);
  return limit_;
}

}  // namespace overlapd::io
