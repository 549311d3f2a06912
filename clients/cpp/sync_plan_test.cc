#include "clients/cpp/sync_plan.h"

#include <gtest/gtest.h>

namespace overlapd {
namespace cli {
namespace {

using Paths = std::vector<std::string>;

TEST(SyncPlanTest, CopiesWhatIsMissingOrResizedAndComparesTheRest) {
  const SyncTree src = {{"a.txt", {3, false}},   {"d", {0, true}},
                        {"d/b.txt", {5, false}}, {"d/c.txt", {7, false}},
                        {"e", {0, true}},        {"same.txt", {9, false}}};
  const SyncTree dst = {{"d", {0, true}}, {"d/b.txt", {6, false}}, {"same.txt", {9, false}}};
  const SyncPlan plan = PlanSync(src, dst, /*delete_extra=*/false);
  EXPECT_EQ(plan.mkdirs, (Paths{"e"}));
  EXPECT_EQ(plan.copy, (Paths{"a.txt", "d/b.txt", "d/c.txt"}));
  EXPECT_EQ(plan.compare, (Paths{"same.txt"}));
  EXPECT_TRUE(plan.remove.empty());
  EXPECT_TRUE(plan.conflicts.empty());
}

TEST(SyncPlanTest, DeleteRemovesATreeOnceAndOnlyWithTheFlag) {
  const SyncTree src = {{"keep", {1, false}}};
  const SyncTree dst = {{"a", {0, true}},       {"a.txt", {1, false}}, {"a/x", {1, false}},
                        {"a/y", {0, true}},     {"a/y/z", {1, false}}, {"keep", {1, false}},
                        {"zz", {2, false}}};
  EXPECT_TRUE(PlanSync(src, dst, false).remove.empty());
  EXPECT_EQ(PlanSync(src, dst, true).remove, (Paths{"a", "a.txt", "zz"}));
}

TEST(SyncPlanTest, AFileAgainstADirectoryIsAConflict) {
  const SyncTree src = {{"x", {1, false}}, {"y", {0, true}}};
  const SyncTree dst = {{"x", {0, true}}, {"y", {4, false}}};
  const SyncPlan plan = PlanSync(src, dst, true);
  EXPECT_EQ(plan.conflicts, (Paths{"x", "y"}));
  EXPECT_TRUE(plan.copy.empty());
  EXPECT_TRUE(plan.remove.empty());
}

}  // namespace
}  // namespace cli
}  // namespace overlapd
