// Crash consistency of atomic replaces: the server is killed with SIGKILL
// while 200 REPLACE_ATOMIC writes of one file are in flight. After a
// restart the file must be exactly one of the versions (or the original),
// and no temp file may be left.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "gtest/gtest.h"
#include "tests/integration/server_harness.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kWriters = 200;

// Version i: 256 KiB to 2 MiB of bytes seeded by i.
std::string Version(int i) { return RandomBytes((256 << 10) + (i % 8) * (224 << 10), 1000 + i); }

TEST(AtomicKillTest, KilledDuringConcurrentReplacesLeavesOneWholeVersion) {
  TempDir dir("overlapd-fault-");
  const std::string root = dir.Join("root");
  std::set<uint32_t> valid;
  const std::string original = "original version";
  valid.insert(SoftCrc32c(original));
  for (int i = 0; i < kWriters; ++i) valid.insert(SoftCrc32c(Version(i)));

  bool cleaned_any = false;
  for (int round = 0; round < 3; ++round) {
    auto server = ServerProcess::Start({}, root);
    ASSERT_TRUE(server.ok()) << server.status();
    ServerProcess& srv = **server;
    if (round == 0) WriteFileOrDie(srv.RootPath("shared.bin"), original);

    // 200 concurrent replacements from 200 calls on a few channels.
    std::atomic<int> completed{0};
    std::vector<std::thread> writers;
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    for (int c = 0; c < 4; ++c) channels.push_back(srv.NewChannel());
    for (int i = 0; i < kWriters; ++i) {
      writers.emplace_back([&, i] {
        auto stub = v1::IoService::NewStub(channels[i % channels.size()]);
        v1::Batch b;
        v1::Write* w = b.add_ops()->mutable_write();
        w->set_path("shared.bin");
        w->set_data(Version(i));
        w->set_mode(v1::WRITE_MODE_REPLACE_ATOMIC);
        w->set_durability(v1::DURABILITY_DATA);
        CallResult r = RunExecute(*stub, b, std::chrono::seconds(30));
        if (r.status.ok()) completed.fetch_add(1);
      });
    }
    // Kill once some replacements are done and most are still in flight.
    auto end = Clock::now() + std::chrono::seconds(20);
    const int kill_after = 10 + round * 40;
    while (completed.load() < kill_after && Clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    srv.Signal(SIGKILL);
    for (auto& t : writers) t.join();
    std::cout << "round " << round << ": killed after " << completed.load() << " of "
              << kWriters << " replacements\n";
    EXPECT_LT(completed.load(), kWriters) << "all finished before the kill: nothing tested";
    server->reset();

    // Restart on the same root: the temp files go, the file is whole.
    auto again = ServerProcess::Start({}, root);
    ASSERT_TRUE(again.ok()) << again.status();
    // Replacements were in flight, so temp files were there to clean.
    cleaned_any |= (*again)->Log().find("temp files of atomic writes") != std::string::npos;
    std::string content = ReadFileOrDie((*again)->RootPath("shared.bin"));
    EXPECT_EQ(valid.count(SoftCrc32c(content)), 1u)
        << "shared.bin (" << content.size() << " bytes) is no complete version";
    for (const auto& name : ListDir((*again)->root())) {
      EXPECT_EQ(name.find(".overlapd-tmp-"), std::string::npos) << "left behind: " << name;
    }
    ASSERT_TRUE((*again)->Stop().ok());
  }
  EXPECT_TRUE(cleaned_any) << "no restart found a temp file: the kill never hit a replace";
}

}  // namespace
}  // namespace overlapd::itest
