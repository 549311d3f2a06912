// A hostile-client soak: for about a minute, clients that do what careful
// clients never do (reads of a 16 TiB sparse file to EOF and copies of it,
// FIFO reads and writes, List(limit=1) floods of a 20,000-entry directory,
// symlinks out of a token's prefix, subscriptions with look-alike prefixes,
// user files named like temp files, one file read under several spellings
// while it is replaced, readers that never read their answers, gzip bombs,
// half-sent HTTP requests to /metrics, bursts of raw connections) run next
// to a well-behaved client that writes and reads back its own files. The
// server must never exit, every one of the good client's ops must succeed
// with the right bytes, health must say SERVING throughout, and the
// server's RSS must stay under its configured budgets plus a stated
// overhead. Bounded: each hostile loop stops at the deadline.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/byte_buffer.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/integration/server_harness.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kAdmin[] = "admin-token-0123456789abcdef";
constexpr char kPub[] = "pub-token-0123456789abcdef";
// The budgets the server runs with, and what the process may use beyond
// them (gRPC's buffers, the allocator's slack, 2 engine rings, code).
constexpr uint64_t kReadBudget = 128u << 20;
constexpr uint64_t kLogBudget = 16u << 20;
constexpr uint64_t kOverhead = 256u << 20;

v1::Batch BatchOf(std::vector<v1::Op> ops) {
  v1::Batch b;
  for (auto& op : ops) *b.add_ops() = std::move(op);
  return b;
}

void AddToken(grpc::ClientContext* ctx, const char* token) {
  ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
}

// Runs `batch` with `token`, reads every event, returns the status.
grpc::Status RunAs(v1::IoService::Stub& stub, const char* token, const v1::Batch& batch,
                   std::vector<v1::Event>* events = nullptr, int timeout_s = 30) {
  grpc::ClientContext ctx;
  AddToken(&ctx, token);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
  auto reader = stub.Execute(&ctx, batch);
  v1::EventBatch msg;
  while (reader->Read(&msg)) {
    if (events != nullptr) {
      for (const auto& e : msg.events()) events->push_back(e);
    }
  }
  return reader->Finish();
}

bool HealthServing(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub generic(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice empty("", 0);
  grpc::ByteBuffer request(&empty, 1), response;
  std::promise<grpc::Status> done;
  generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                    &response, [&](grpc::Status s) { done.set_value(std::move(s)); });
  auto result = done.get_future();
  if (result.wait_for(std::chrono::seconds(15)) != std::future_status::ready) return false;
  if (!result.get().ok()) return false;
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return false;
  std::string body;
  for (const auto& s : slices) body.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return body == std::string("\x08\x01", 2);  // status: SERVING
}

int ConnectTo(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

TEST(HostileSoakTest, ServerSurvivesAMinuteOfHostileClientsBesideAGoodOne) {
  TempDir dir("overlapd-soak-");
  WriteFileOrDie(dir.Join("tokens"),
                 absl::StrCat(kAdmin, " read,write\n", kPub, " read,write pub\n"));
  auto server = ServerProcess::Start(
      {"--tokens", dir.Join("tokens"), "--max-read-bytes", "1G", "--max-read-buffer-bytes",
       "128M", "--max-inflight-read-bytes", "16M", "--write-stall-seconds", "4",
       "--event-log-bytes", "16M", "--max-open-files", "4096", "--drain-seconds", "5"});
  ASSERT_TRUE(server.ok()) << server.status();
  ServerProcess& srv = **server;
  auto R = [&](const std::string& p) { return srv.RootPath(p); };
  for (const char* d : {"pub", "secret", "good", "big", "a"}) ASSERT_EQ(mkdir(R(d).c_str(), 0755), 0);
  WriteFileOrDie(R("secret/s.txt"), "secret");
  ASSERT_EQ(symlink("../secret", R("pub/link").c_str()), 0);
  ASSERT_EQ(mkfifo(R("fifo").c_str(), 0644), 0);
  WriteFileOrDie(R("stream.bin"), RandomBytes(64u << 20, 5));
  {
    int fd = open(R("sparse").c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(pwrite(fd, "x", 1, (1ll << 44) - (1 << 20)), 1);
    close(fd);
  }
  for (int i = 0; i < 20000; ++i) {
    int fd = open(R(absl::StrCat("big/", i)).c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    close(fd);
  }
  auto base = srv.Memory();
  ASSERT_TRUE(base.ok());

  const auto deadline = Clock::now() + std::chrono::seconds(60);
  auto running = [&] { return Clock::now() < deadline; };
  std::atomic<uint64_t> hostile_calls{0};
  std::vector<std::thread> hostile;
  // Each hostile loop: a fresh connection now and then, never waits long.
  auto loop = [&](std::function<void(v1::IoService::Stub&)> body) {
    hostile.emplace_back([&, body] {
      while (running()) {
        auto stub = srv.NewStub();
        for (int i = 0; i < 10 && running(); ++i) {
          body(*stub);
          ++hostile_calls;
        }
      }
    });
  };
  loop([&](v1::IoService::Stub& stub) {  // 1: a 16 TiB sparse file
    v1::Op copy;
    copy.mutable_copy()->set_src("sparse");
    copy.mutable_copy()->set_dst("sparse.copy");
    v1::Op tail = ReadOp(2, "sparse", (1ull << 44) - (2 << 20));
    RunAs(stub, kAdmin, BatchOf({ReadOp(1, "sparse"), copy, tail}));
  });
  loop([&](v1::IoService::Stub& stub) {  // 3: a FIFO
    RunAs(stub, kAdmin, BatchOf({ReadOp(1, "fifo"), WriteOp(2, "fifo", "x", v1::WRITE_MODE_AT)}));
  });
  loop([&](v1::IoService::Stub& stub) {  // 4: List floods of a big directory
    std::vector<v1::Op> ops;
    for (int i = 0; i < 64; ++i) {
      v1::Op list;
      list.set_tag(i);
      list.mutable_list()->set_path("big");
      list.mutable_list()->set_limit(1);
      list.mutable_list()->set_start_after(std::to_string(i * 300));
      ops.push_back(list);
    }
    RunAs(stub, kAdmin, BatchOf(std::move(ops)));
  });
  loop([&](v1::IoService::Stub& stub) {  // 5, 6: out of the prefix
    std::vector<v1::Event> events;
    RunAs(stub, kPub, BatchOf({ReadOp(1, "pub/link/s.txt"),
                               WriteOp(2, "pub/link/new", "x", v1::WRITE_MODE_AT)}), &events);
    for (const auto& e : events) {
      EXPECT_NE(e.type(), v1::READ_COMPLETE) << "read through a link out of the prefix";
      EXPECT_NE(e.type(), v1::WRITE_COMPLETE) << "wrote through a link out of the prefix";
    }
    grpc::ClientContext ctx;
    AddToken(&ctx, kPub);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
    v1::SubscribeRequest req;
    req.set_path_prefix("pub");
    req.set_from_seq(0);
    auto sub = stub.Subscribe(&ctx, req);
    v1::EventBatch msg;
    while (sub->Read(&msg)) {
      for (const auto& e : msg.events()) {
        EXPECT_TRUE(e.path().empty() || e.path().rfind("pub/", 0) == 0 || e.path() == "pub")
            << "a pub subscriber saw " << e.path();
      }
    }
  });
  loop([&](v1::IoService::Stub& stub) {  // 7, 8: look-alikes, spellings, replaces
    RunAs(stub, kAdmin, BatchOf({WriteOp(1, ".x.overlapd-tmp-keepme", "mine", v1::WRITE_MODE_TRUNCATE),
                                 WriteOp(2, "a/f", RandomBytes(4096, 1), v1::WRITE_MODE_REPLACE_ATOMIC),
                                 ReadOp(3, "./a/f"), ReadOp(4, "a//f")}));
  });
  loop([&](v1::IoService::Stub& stub) {  // 10: readers that never read
    std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
    std::vector<std::unique_ptr<grpc::ClientReader<v1::EventBatch>>> readers;
    for (int i = 0; i < 4; ++i) {
      ctxs.push_back(std::make_unique<grpc::ClientContext>());
      AddToken(ctxs.back().get(), kAdmin);
      readers.push_back(stub.Execute(ctxs.back().get(), BatchOf({ReadOp(1, "stream.bin")})));
    }
    // Holding, not reading: past --write-stall-seconds, so the server cuts
    // them (a good client starved of CPU for that long would be cut too:
    // 4 s keeps that out of a busy CI machine's reach).
    std::this_thread::sleep_for(std::chrono::seconds(6));
    for (auto& c : ctxs) c->TryCancel();
  });
  loop([&](v1::IoService::Stub&) {  // 10: gzip bombs
    grpc::ChannelArguments args;
    args.SetCompressionAlgorithm(GRPC_COMPRESS_GZIP);
    args.SetMaxSendMessageSize(128 << 20);
    auto bomb = v1::IoService::NewStub(
        grpc::CreateCustomChannel(srv.address(), grpc::InsecureChannelCredentials(), args));
    RunAs(*bomb, kAdmin, BatchOf({WriteOp(1, "bomb", std::string(60u << 20, '\0'))}));
  });
  loop([&](v1::IoService::Stub&) {  // 11 and 2: half-sent HTTP, raw connection bursts
    std::vector<int> fds;
    for (int i = 0; i < 8; ++i) {
      int fd = ConnectTo(srv.metrics_port());
      if (fd >= 0 && write(fd, "GET /metrics HTTP/1.1\r\nHost", 27) > 0) fds.push_back(fd);
    }
    for (int i = 0; i < 100; ++i) {
      int fd = ConnectTo(srv.grpc_port());
      if (fd >= 0) fds.push_back(fd);
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));  // holding them
    for (int fd : fds) close(fd);
  });

  // The good client: its own files, written, read back, compared.
  auto channel = srv.NewChannel();
  auto good = v1::IoService::NewStub(channel);
  int good_ops = 0, good_failures = 0, health_checks = 0, health_failures = 0;
  uint64_t peak_rss = 0;
  auto last_health = Clock::now();
  for (int i = 0; running(); ++i) {
    const std::string name = absl::StrCat("good/", i % 50);
    const std::string data = RandomBytes(64 << 10, 1000 + i);
    std::vector<v1::Event> write_events, read_events;
    const grpc::Status write_st = RunAs(
        *good, kAdmin, BatchOf({WriteOp(1, name, data, v1::WRITE_MODE_REPLACE_ATOMIC)}),
        &write_events);
    const grpc::Status read_st = RunAs(*good, kAdmin, BatchOf({ReadOp(2, name)}), &read_events);
    auto writes = GroupByTag(write_events);
    auto reads = GroupByTag(read_events);
    const v1::Event* written = writes[1].terminal();
    const v1::Event* read = reads[2].terminal();
    const bool ok = write_st.ok() && written != nullptr && written->type() == v1::WRITE_COMPLETE &&
                    read_st.ok() && read != nullptr && read->type() == v1::READ_COMPLETE &&
                    reads[2].data == data;
    ++good_ops;
    if (!ok) {
      ++good_failures;
      ADD_FAILURE() << "good client pair " << i << " on " << name << " failed: write "
                    << write_st.error_code() << " " << write_st.error_message() << " "
                    << (written == nullptr ? "no terminal event" : Describe(*written))
                    << "; read " << read_st.error_code() << " " << read_st.error_message() << " "
                    << (read == nullptr ? "no terminal event" : Describe(*read)) << "; "
                    << reads[2].data.size() << " bytes, "
                    << (reads[2].data == data ? "equal" : "NOT equal") << " to what was written";
    }
    auto mem = srv.Memory();
    ASSERT_TRUE(mem.ok()) << "the server exited: " << srv.Log().substr(0, 4000);
    peak_rss = std::max(peak_rss, mem->rss);
    if (Clock::now() - last_health > std::chrono::seconds(1)) {
      ++health_checks;
      health_failures += HealthServing(channel) ? 0 : 1;
      last_health = Clock::now();
    }
  }
  for (auto& t : hostile) t.join();
  std::cout << "soak: " << good_ops << " good write+read pairs, " << hostile_calls
            << " hostile calls, peak RSS " << (peak_rss >> 20) << " MiB (base "
            << (base->rss >> 20) << " MiB), " << health_checks << " health checks\n";
  EXPECT_EQ(good_failures, 0);
  EXPECT_GT(good_ops, 50) << "the good client hardly ran: the test tested little";
  EXPECT_EQ(health_failures, 0);
  EXPECT_GT(health_checks, 30);
  EXPECT_LT(peak_rss, base->rss + kReadBudget + kLogBudget + kOverhead);
  EXPECT_EQ(ReadFileOrDie(R("secret/s.txt")), "secret");
  EXPECT_FALSE(PathExists(R("secret/new")));
  EXPECT_FALSE(PathExists(R("sparse.copy")));
  EXPECT_FALSE(PathExists(R("bomb")));
  absl::StatusOr<int> exit_status = srv.Stop();
  ASSERT_TRUE(exit_status.ok()) << exit_status.status();
  EXPECT_EQ(*exit_status, 0);
}

}  // namespace
}  // namespace overlapd::itest
