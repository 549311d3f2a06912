#include "ioengine/inbox.h"

#include <poll.h>

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace overlapd::io::internal {
namespace {

std::vector<int> Ids(TaskList& list) {
  std::vector<int> ids;
  while (Task* t = list.PopFront()) ids.push_back(static_cast<int>(reinterpret_cast<intptr_t>(t->owner)));
  return ids;
}

Task MakeTask(int id) { return Task{nullptr, Task::Kind::kOp, reinterpret_cast<void*>(intptr_t{id})}; }

TEST(TaskListTest, FifoWithPushFrontAndAppend) {
  Task a = MakeTask(1), b = MakeTask(2), c = MakeTask(3), d = MakeTask(4);
  TaskList list;
  EXPECT_TRUE(list.empty());
  list.PushBack(&a);
  list.PushBack(&b);
  list.PushFront(&c);  // a requeued IO goes first
  EXPECT_EQ(Ids(list), (std::vector<int>{3, 1, 2}));
  EXPECT_TRUE(list.empty());
  d.next = nullptr;
  c.next = &d;
  list.PushBack(&a);
  list.Append(&c);  // a chain, oldest first
  EXPECT_EQ(Ids(list), (std::vector<int>{1, 3, 4}));
}

TEST(InboxTest, TakeAllGivesOldestFirstAndSleepIsRefusedWithWorkPending) {
  Inbox inbox;
  Task a = MakeTask(1), b = MakeTask(2);
  EXPECT_TRUE(inbox.PrepareSleep());  // empty: may sleep
  inbox.EndSleep();
  inbox.Push(&a);
  inbox.Push(&b);
  EXPECT_FALSE(inbox.PrepareSleep()) << "work arrived: the owner must stay awake";
  TaskList list;
  list.Append(inbox.TakeAll());
  EXPECT_EQ(Ids(list), (std::vector<int>{1, 2}));
  EXPECT_EQ(inbox.TakeAll(), nullptr);
}

TEST(InboxTest, APushToASleepingOwnerWritesTheEventfd) {
  Inbox inbox;
  struct pollfd pfd = {inbox.event_fd(), POLLIN, 0};
  ASSERT_EQ(poll(&pfd, 1, 0), 0) << "the eventfd starts quiet";
  Task a = MakeTask(1);
  inbox.Push(&a);  // owner awake: no system call, no wake-up
  EXPECT_EQ(poll(&pfd, 1, 0), 0);
  inbox.TakeAll();
  ASSERT_TRUE(inbox.PrepareSleep());
  std::thread producer([&] { inbox.Push(&a); });
  producer.join();
  EXPECT_EQ(poll(&pfd, 1, 0), 1) << "a sleeping owner was not woken";
}

}  // namespace
}  // namespace overlapd::io::internal
