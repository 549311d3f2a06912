#include "clients/cpp/retry.h"

#include <algorithm>
#include <random>

#include "absl/time/clock.h"

namespace overlapd {

bool IsTransient(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

absl::Duration BackoffDelay(const RetryPolicy& policy, int retry,
                            uint64_t random) {
  absl::Duration delay = policy.initial_backoff;
  for (int i = 1; i < retry && delay < policy.max_backoff; ++i) delay *= 2;
  delay = std::min(delay, policy.max_backoff);
  const double fraction =
      static_cast<double>(random >> 11) / static_cast<double>(uint64_t{1} << 53);
  return delay / 2 + (delay / 2) * fraction;
}

absl::Status Retry(const RetryPolicy& policy, const RetryFn& on_retry,
                   const std::function<absl::Status(int attempt)>& attempt,
                   const std::function<bool()>& should_stop) {
  std::random_device seed;
  std::mt19937_64 random((static_cast<uint64_t>(seed()) << 32) ^ seed());
  absl::Status status;
  for (int n = 0;; ++n) {
    status = attempt(n);
    if (status.ok() || !IsTransient(status) || n >= policy.retries) return status;
    if (should_stop && should_stop()) return status;
    const absl::Duration delay = BackoffDelay(policy, n + 1, random());
    if (on_retry) on_retry(status, n + 1, delay);
    // Slept in slices, so a stop (Ctrl-C) does not wait out a long delay.
    const absl::Time until = absl::Now() + delay;
    for (absl::Time now = absl::Now(); now < until; now = absl::Now()) {
      if (should_stop && should_stop()) return status;
      absl::SleepFor(std::min(until - now, absl::Milliseconds(50)));
    }
    if (should_stop && should_stop()) return status;
  }
}

}  // namespace overlapd
