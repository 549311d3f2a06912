#include "clients/cpp/retry.h"

#include <vector>

#include <gtest/gtest.h>

namespace overlapd {
namespace {

TEST(RetryTest, BackoffDoublesUpToTheCapWithJitterInTheUpperHalf) {
  const RetryPolicy policy{.retries = 10,
                           .initial_backoff = absl::Milliseconds(100),
                           .max_backoff = absl::Milliseconds(1000)};
  for (uint64_t random : {uint64_t{0}, ~uint64_t{0}, uint64_t{1} << 63}) {
    for (int retry = 1; retry <= 8; ++retry) {
      const absl::Duration full =
          std::min(absl::Milliseconds(100) * (1 << (retry - 1)), absl::Milliseconds(1000));
      const absl::Duration delay = BackoffDelay(policy, retry, random);
      EXPECT_GE(delay, full / 2) << retry;
      EXPECT_LE(delay, full) << retry;
    }
  }
  EXPECT_EQ(BackoffDelay(policy, 1, 0), absl::Milliseconds(50));
}

TEST(RetryTest, TransientCodes) {
  EXPECT_TRUE(IsTransient(absl::UnavailableError("")));
  EXPECT_TRUE(IsTransient(absl::DeadlineExceededError("")));
  EXPECT_TRUE(IsTransient(absl::ResourceExhaustedError("")));
  EXPECT_FALSE(IsTransient(absl::InvalidArgumentError("")));
  EXPECT_FALSE(IsTransient(absl::PermissionDeniedError("")));
  EXPECT_FALSE(IsTransient(absl::CancelledError("")));
  EXPECT_FALSE(IsTransient(absl::OkStatus()));
}

RetryPolicy Fast(int retries) {
  return {.retries = retries, .initial_backoff = absl::Microseconds(1),
          .max_backoff = absl::Microseconds(1)};
}

TEST(RetryTest, RetriesTransientFailuresThenSucceeds) {
  std::vector<int> told;
  int calls = 0;
  const absl::Status status = Retry(
      Fast(3), [&](const absl::Status&, int retry, absl::Duration) { told.push_back(retry); },
      [&](int attempt) {
        EXPECT_EQ(attempt, calls++);
        return attempt < 2 ? absl::UnavailableError("down") : absl::OkStatus();
      });
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(told, (std::vector<int>{1, 2}));
}

TEST(RetryTest, GivesUpAfterTheRetriesAndOnAnAnswer) {
  int calls = 0;
  EXPECT_EQ(Retry(Fast(2), nullptr,
                  [&](int) {
                    ++calls;
                    return absl::UnavailableError("down");
                  })
                .code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(calls, 3);
  calls = 0;
  EXPECT_EQ(Retry(Fast(5), nullptr,
                  [&](int) {
                    ++calls;
                    return absl::NotFoundError("no");
                  })
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(calls, 1);
}

TEST(RetryTest, StopsWhenAsked) {
  int calls = 0;
  const absl::Status status = Retry(
      Fast(5), nullptr,
      [&](int) {
        ++calls;
        return absl::UnavailableError("down");
      },
      [] { return true; });
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace overlapd
