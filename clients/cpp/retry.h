// Retries of transient failures with exponential backoff and jitter.
//
// Transient: UNAVAILABLE (no connection, server restarting or draining),
// DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED (a server budget was full).
// Anything else is the answer and is returned at once.
//
//   RetryPolicy policy{.retries = 3};
//   absl::Status s = Retry(policy, nullptr, [&](int attempt) {
//     return client->Mkdir("a/b", /*parents=*/true);
//   });
#ifndef OVERLAPD_CLIENTS_CPP_RETRY_H_
#define OVERLAPD_CLIENTS_CPP_RETRY_H_

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace overlapd {

struct RetryPolicy {
  // Attempts after the first; 0 never retries.
  int retries = 3;
  // The delay before retry n (1-based) is drawn uniformly from
  // [d/2, d] with d = min(initial_backoff * 2^(n-1), max_backoff)
  // ("equal jitter"), so clients that failed together spread out.
  absl::Duration initial_backoff = absl::Milliseconds(250);
  absl::Duration max_backoff = absl::Seconds(8);
};

// Told before each retry: the error, the retry's number (1-based) and the
// delay about to be slept. The CLI prints it on stderr.
using RetryFn = std::function<void(const absl::Status& error, int retry,
                                   absl::Duration delay)>;

bool IsTransient(const absl::Status& status);

// The delay before retry `retry` (1-based) under `policy`; `random` is a
// uniform random 64-bit value (the jitter).
absl::Duration BackoffDelay(const RetryPolicy& policy, int retry,
                            uint64_t random);

// Runs `attempt(n)` (n = 0 first) until it succeeds, fails with a
// non-transient error, or policy.retries retries are used up; returns the
// last status. `should_stop` (optional) is asked before each retry: true
// ends the loop with the last error (e.g. the user pressed Ctrl-C).
absl::Status Retry(const RetryPolicy& policy, const RetryFn& on_retry,
                   const std::function<absl::Status(int attempt)>& attempt,
                   const std::function<bool()>& should_stop = nullptr);

}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_RETRY_H_
