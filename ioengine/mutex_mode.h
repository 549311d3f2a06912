// Debian's Abseil is built without NDEBUG, so absl::Mutex runs its deadlock
// detection on every Lock: a stack trace and an update of one process-wide
// graph of locks, behind one global spin lock. Measured: a quarter of the
// engine's CPU on 4 KiB reads from a hot cache (overlapd_engine_bench,
// 580k vs 760k IOPS), and a share that grows with the number of streams in
// the server. Every program calls this first thing in main(); the tests keep
// the detection, which is what it is for.
#ifndef OVERLAPD_IOENGINE_MUTEX_MODE_H_
#define OVERLAPD_IOENGINE_MUTEX_MODE_H_

#include "absl/synchronization/mutex.h"

namespace overlapd {

inline void SkipMutexDeadlockDetection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace overlapd

#endif  // OVERLAPD_IOENGINE_MUTEX_MODE_H_
