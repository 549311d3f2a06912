#include "ioengine/mpsc_stack.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace overlapd::io {
namespace {

struct Node {
  Node* next = nullptr;
  int value = 0;
};

TEST(MpscStackTest, TakeAllReturnsOldestFirstWithTheLast) {
  MpscStack<Node> stack;
  EXPECT_TRUE(stack.empty());
  Node a{nullptr, 1}, b{nullptr, 2}, c{nullptr, 3};
  stack.Push(&a);
  stack.Push(&b);
  stack.Push(&c);
  EXPECT_FALSE(stack.empty());
  Node* last = nullptr;
  Node* n = stack.TakeAll(&last);
  std::vector<int> got;
  for (; n != nullptr; n = n->next) got.push_back(n->value);
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(last, &c);
  EXPECT_TRUE(stack.empty());
  EXPECT_EQ(stack.TakeAll(), nullptr);
}

TEST(MpscStackTest, ConcurrentPushesAreAllTakenInEachProducersOrder) {
  MpscStack<Node> stack;
  constexpr int kThreads = 4, kItems = 20000;
  std::vector<Node> nodes(kThreads * kItems);
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kItems; ++i) {
        Node& n = nodes[t * kItems + i];
        n.value = t * kItems + i;
        stack.Push(&n);
      }
    });
  }
  std::vector<int> last_of(kThreads, -1);
  int taken = 0;
  while (taken < kThreads * kItems) {
    for (Node* n = stack.TakeAll(); n != nullptr; n = n->next) {
      const int t = n->value / kItems;
      ASSERT_GT(n->value, last_of[t]) << "a producer's items out of order";
      last_of[t] = n->value;
      ++taken;
    }
  }
  for (auto& p : producers) p.join();
  EXPECT_TRUE(stack.empty());
}

}  // namespace
}  // namespace overlapd::io
