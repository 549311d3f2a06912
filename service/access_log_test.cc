#include "service/access_log.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "overlapd/v1/overlapd.grpc.pb.h"

namespace overlapd {
namespace {

constexpr uint64_t kSecond = 1'000'000'000;

TEST(RateLimiterTest, AllowsTheRateThenCountsWhatItDrops) {
  RateLimiter limiter(10);  // 10 a second, bursts of 10
  uint64_t suppressed = 99;
  const uint64_t t0 = 5 * kSecond;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(limiter.Allow(t0, &suppressed)) << i;
    EXPECT_EQ(suppressed, 0u);
  }
  for (int i = 0; i < 25; ++i) EXPECT_FALSE(limiter.Allow(t0, &suppressed));
  // A tenth of a second refills one line, which reports the 25 dropped.
  EXPECT_TRUE(limiter.Allow(t0 + kSecond / 10, &suppressed));
  EXPECT_EQ(suppressed, 25u);
  EXPECT_FALSE(limiter.Allow(t0 + kSecond / 10, &suppressed));
  // A long pause refills the burst, no more.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(limiter.Allow(t0 + 100 * kSecond, &suppressed));
  EXPECT_FALSE(limiter.Allow(t0 + 100 * kSecond, &suppressed));
}

TEST(RateLimiterTest, ThreadsRacingForOneBurstGetExactlyTheBurst) {
  RateLimiter limiter(100);  // bursts of 100
  std::atomic<int> allowed{0};
  std::atomic<uint64_t> reported{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      uint64_t suppressed = 0;
      for (int i = 0; i < 5000; ++i) {
        if (limiter.Allow(7 * kSecond, &suppressed)) ++allowed;
        reported += suppressed;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(allowed.load(), 100);
  // Every refusal is reported by a later line, once.
  uint64_t suppressed = 0;
  ASSERT_TRUE(limiter.Allow(8 * kSecond, &suppressed));
  EXPECT_EQ(reported.load() + suppressed, 8u * 5000 - 100);
}

TEST(RateLimiterTest, ZeroMeansNoLimit) {
  RateLimiter limiter(0);
  uint64_t suppressed = 0;
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(limiter.Allow(kSecond, &suppressed));
}

TEST(RefusalReasonTest, NamesTheReasonsOfTheRealMessages) {
  Grant grant;
  grant.scopes = kScopeRead;
  grant.path_prefix = "pub";
  const absl::Status scope = grant.CheckScope(kScopeWrite, "ops[0].write");
  const absl::Status prefix = grant.CheckPath("secret/x", "ops[0].read.path");
  ASSERT_FALSE(scope.ok());
  ASSERT_FALSE(prefix.ok());
  auto reason = [](const absl::Status& s) {
    return std::string(RefusalReason(static_cast<int>(s.code()), s.message()));
  };
  EXPECT_EQ(reason(scope), "scope");
  EXPECT_EQ(reason(prefix), "prefix");
  EXPECT_EQ(reason(absl::PermissionDeniedError("ops[0].read.path: path leads outside the root")),
            "sandbox");
  EXPECT_EQ(reason(absl::InvalidArgumentError("ops[3].write.path: absolute path")), "invalid");
  EXPECT_EQ(reason(absl::ResourceExhaustedError("too many ops")), "limit");
  EXPECT_EQ(reason(absl::UnavailableError("server shutting down")), "shutting_down");
  EXPECT_EQ(reason(absl::NotFoundError("no job 7")), "");
  EXPECT_EQ(reason(absl::FailedPreconditionError(
                "ops[0].read.path: \"b/x\" belongs to node b at b:1 (placement map version 2), "
                "not to this node a; send it there")),
            "placement");
  EXPECT_EQ(reason(absl::FailedPreconditionError("buffer released")), "");
  // Only token refusals are authentication failures.
  EXPECT_EQ(AuthFailureReason(static_cast<int>(scope.code()), scope.message()), "scope");
  EXPECT_EQ(AuthFailureReason(7, "ops[0].read.path: path leads outside the root"), "");
}

TEST(RpcMetricsTest, MethodTableCoversTheService) {
  EXPECT_EQ(MethodIndex("/overlapd.v1.IoService/Execute"), 0);
  EXPECT_NE(MethodIndex("/grpc.health.v1.Health/Check"), kOtherMethod);
  EXPECT_EQ(MethodIndex("/nope/Nope"), kOtherMethod);
  EXPECT_EQ(CodeName(0), "OK");
  EXPECT_EQ(CodeName(16), "UNAUTHENTICATED");
  EXPECT_EQ(CodeName(99), "UNKNOWN");
  // Every IoService method of the proto is in the table.
  const auto* service =
      v1::Batch::descriptor()->file()->FindServiceByName("IoService");
  ASSERT_NE(service, nullptr);
  for (int i = 0; i < service->method_count(); ++i) {
    const std::string path = "/" + service->full_name() + "/" + service->method(i)->name();
    EXPECT_NE(MethodIndex(path), kOtherMethod) << path;
  }
}

}  // namespace
}  // namespace overlapd
