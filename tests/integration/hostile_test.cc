// Hostile and unlucky inputs against a real overlapd: each test makes one
// thing happen that a careful client never does (a sparse file of 2^62
// bytes, a FIFO, a symlink out of a token's prefix, a user file that looks
// like a temp file, a path spelled two ways) and checks that the server
// neither crashes, hangs, escapes nor loses or hides data.
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <iostream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/integration/server_harness.h"
#include "tests/integration/server_test.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

v1::Batch BatchOf(std::vector<v1::Op> ops) {
  v1::Batch b;
  for (auto& op : ops) *b.add_ops() = std::move(op);
  return b;
}

// The terminal event of the only op of a one-op Execute.
v1::Event RunOneOp(v1::IoService::Stub& stub, v1::Op op) {
  CallResult r = RunExecute(stub, BatchOf({std::move(op)}), std::chrono::seconds(30));
  EXPECT_TRUE(r.status.ok()) << r.status.error_code() << ": " << r.status.error_message();
  auto grouped = GroupByTag(r.events);
  if (grouped.empty() || grouped.begin()->second.terminal() == nullptr) {
    ADD_FAILURE() << "no terminal event";
    return v1::Event();
  }
  return *grouped.begin()->second.terminal();
}

// ---- item 7: the restart sweep deletes only what overlapd minted ----------

TEST(HostileTest, RestartSweepsOnlyTempFilesTheServerMinted) {
  TempDir dir("overlapd-sweep-");
  const std::string root = dir.Join("root");
  std::string upload_temp;
  {
    auto server = ServerProcess::Start({}, root);
    ASSERT_TRUE(server.ok()) << server.status();
    auto stub = (*server)->NewStub();
    v1::Op mkdir;
    mkdir.mutable_mkdir()->set_path("dir");
    ASSERT_EQ(RunOneOp(*stub, mkdir).type(), v1::MKDIR_COMPLETE);
    // User files whose names look like temp files, written durably.
    for (const char* name : {".notes.overlapd-tmp-keepme", "dir/.x.overlapd-tmp-0000",
                             ".y.overlapd-up-00000000000000000000000000000000"}) {
      v1::Event e = RunOneOp(*stub, WriteOp(1, name, "mine", v1::WRITE_MODE_CREATE_NEW,
                                            v1::DURABILITY_FULL));
      ASSERT_EQ(e.type(), v1::WRITE_COMPLETE) << name << ": " << Describe(e);
    }
    // Positive control: an upload temp the server minted, abandoned an hour ago.
    grpc::ClientContext ctx;
    v1::BeginUploadRequest req;
    req.set_path("dir/big.bin");
    v1::Upload upload;
    grpc::Status s = stub->BeginUpload(&ctx, req, &upload);
    ASSERT_TRUE(s.ok()) << s.error_message();
    upload_temp = upload.temp_path();
    EXPECT_EQ(upload_temp.rfind("dir/.big.bin.overlapd-up-", 0), 0u) << upload_temp;
    EXPECT_EQ(upload.grace_seconds(), 24u * 3600);
    ASSERT_EQ(RunOneOp(*stub, WriteOp(2, upload_temp, "partial")).type(), v1::WRITE_COMPLETE);
    struct timespec old[2] = {{time(nullptr) - 3600, 0}, {time(nullptr) - 3600, 0}};
    ASSERT_EQ(utimensat(AT_FDCWD, (root + "/" + upload_temp).c_str(), old, 0), 0);
    ASSERT_TRUE((*server)->Stop().ok());
  }
  auto again = ServerProcess::Start({"--upload-grace", "600"}, root);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(PathExists(root + "/" + upload_temp)) << "the abandoned upload stays";
  EXPECT_EQ(ReadFileOrDie(root + "/.notes.overlapd-tmp-keepme"), "mine");
  EXPECT_EQ(ReadFileOrDie(root + "/dir/.x.overlapd-tmp-0000"), "mine");
  EXPECT_EQ(ReadFileOrDie(root + "/.y.overlapd-up-00000000000000000000000000000000"), "mine");
  EXPECT_NE((*again)->Log().find("removed 1 upload temp files"), std::string::npos)
      << (*again)->Log();
}

TEST(HostileTest, BeginUploadChecksThePathAndTheToken) {
  TempDir dir("overlapd-upload-");
  WriteFileOrDie(dir.Join("tokens"), "read-token-0123456789abcdef read\n"
                                     "team-token-0123456789abcdef read,write team\n");
  auto server = ServerProcess::Start({"--tokens", dir.Join("tokens")});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = (*server)->NewStub();
  auto begin = [&](const char* token, const std::string& path) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    v1::BeginUploadRequest req;
    req.set_path(path);
    v1::Upload upload;
    return stub->BeginUpload(&ctx, req, &upload);
  };
  EXPECT_TRUE(begin("team-token-0123456789abcdef", "team/a.bin").ok());
  EXPECT_EQ(begin("team-token-0123456789abcdef", "other/a.bin").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(begin("read-token-0123456789abcdef", "a.bin").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(begin("team-token-0123456789abcdef", "/etc/passwd").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(begin("team-token-0123456789abcdef", "team/..").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(begin("team-token-0123456789abcdef", std::string(300, 'x')).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(HostileTest, StateDirInsideTheRootIsRefused) {
  TempDir dir("overlapd-state-");
  auto server = ServerProcess::Start({"--state-dir", dir.Join("root/state")}, dir.Join("root"));
  ASSERT_FALSE(server.ok());
  EXPECT_NE(std::string(server.status().message()).find("lies inside --root"),
            std::string::npos)
      << server.status();
}


// ---- item 1: a sparse file of 2^62 bytes -----------------------------------

class HostileServerTest : public ServerTest {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(StartServer({"--max-read-bytes", "1G"})); }
  v1::Event Run(v1::Op op) { return RunOneOp(*server_->NewStub(), std::move(op)); }
  void ExpectAlive() {
    WriteFileOrDie(server_->RootPath("alive.txt"), "yes");
    v1::Event e = Run(ReadOp(9, "alive.txt"));
    EXPECT_EQ(e.type(), v1::READ_COMPLETE) << "the server stopped serving: " << Describe(e);
  }
};

TEST_F(HostileServerTest, HugeSparseFileNeitherCrashesNorGrows) {
  // 2^62 where the filesystem allows it (xfs, btrfs, tmpfs), else just
  // under ext4's 16 TiB.
  uint64_t kHuge = 1ull << 62;
  v1::Op w = WriteOp(1, "sparse", "x", v1::WRITE_MODE_AT);
  w.mutable_write()->set_offset(kHuge);
  v1::Event written = Run(w);
  if (written.type() == v1::OP_FAILED && written.error().errno_value() == EFBIG) {
    kHuge = (1ull << 44) - (1ull << 20);
    w.mutable_write()->set_offset(kHuge);
    written = Run(w);
  }
  ASSERT_EQ(written.type(), v1::WRITE_COMPLETE) << Describe(written);
  auto before = server_->Memory();
  ASSERT_TRUE(before.ok());
  // To EOF from 0, and a copy: over --max-read-bytes, refused before any IO.
  v1::Event whole = Run(ReadOp(2, "sparse"));
  EXPECT_EQ(whole.type(), v1::OP_FAILED) << Describe(whole);
  EXPECT_EQ(whole.error().code(), kCodeResourceExhausted) << Describe(whole);
  EXPECT_NE(whole.error().message().find("--max-read-bytes"), std::string::npos);
  v1::Op copy;
  copy.set_tag(3);
  copy.mutable_copy()->set_src("sparse");
  copy.mutable_copy()->set_dst("sparse.copy");
  v1::Event copied = Run(copy);
  EXPECT_EQ(copied.type(), v1::OP_FAILED) << Describe(copied);
  EXPECT_EQ(copied.error().code(), kCodeResourceExhausted) << Describe(copied);
  // The tail, to EOF: one byte, and its CRC.
  v1::Event tail = Run(ReadOp(4, "sparse", kHuge - 3));
  ASSERT_EQ(tail.type(), v1::READ_COMPLETE) << Describe(tail);
  EXPECT_EQ(tail.bytes(), 4u);
  EXPECT_EQ(tail.crc32c(), SoftCrc32c(std::string("\0\0\0x", 4)));
  // Past EOF, and at offsets no file reaches: short reads, not errors.
  for (uint64_t offset : std::vector<uint64_t>{kHuge + 10, 1ull << 63, ~0ull}) {
    v1::Event past = Run(ReadOp(5, "sparse", offset, 10));
    EXPECT_EQ(past.type(), v1::READ_COMPLETE) << offset << ": " << Describe(past);
    EXPECT_EQ(past.bytes(), 0u);
  }
  auto after = server_->Memory();
  ASSERT_TRUE(after.ok());
  EXPECT_LT(after->peak_rss, before->peak_rss + (64u << 20))
      << "per-op memory grew with the size of the file";
  ExpectAlive();
}

TEST_F(HostileServerTest, ReadToEofOfAManyChunkFileKeepsItsCrc) {
  // Many chunks completing out of order fold into one CRC in file order.
  std::string data = RandomBytes((40u << 20) + 12345, 21);
  WriteFileOrDie(server_->RootPath("big"), data);
  CallResult r = RunExecute(*server_->NewStub(), BatchOf({ReadOp(1, "big")}));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  auto grouped = GroupByTag(r.events);
  const OpOutcome& out = grouped.at(1);
  EXPECT_TRUE(out.problems.empty()) << out.problems.front();
  ASSERT_NE(out.terminal(), nullptr);
  EXPECT_EQ(out.terminal()->crc32c(), SoftCrc32c(data));
  EXPECT_EQ(out.data, data);
}

// ---- item 3: a FIFO must not block a worker ---------------------------------

TEST_F(HostileServerTest, FifoAndDirectoryAreRefusedWithoutBlocking) {
  ASSERT_EQ(mkfifo(server_->RootPath("fifo").c_str(), 0644), 0);
  ASSERT_EQ(mkdir(server_->RootPath("dir").c_str(), 0755), 0);
  WriteFileOrDie(server_->RootPath("file"), "data");
  // More FIFO ops than workers: had any blocked, the last read would hang.
  std::vector<v1::Op> ops;
  for (int i = 0; i < 4; ++i) ops.push_back(ReadOp(i, "fifo"));
  ops.push_back(WriteOp(10, "fifo", "x", v1::WRITE_MODE_AT));
  v1::Op copy;
  copy.set_tag(11);
  copy.mutable_copy()->set_src("fifo");
  copy.mutable_copy()->set_dst("c");
  ops.push_back(copy);
  v1::Op copy_to;
  copy_to.set_tag(12);
  copy_to.mutable_copy()->set_src("file");
  copy_to.mutable_copy()->set_dst("fifo");
  ops.push_back(copy_to);
  v1::Op fsync;
  fsync.set_tag(13);
  fsync.mutable_fsync()->set_path("fifo");
  ops.push_back(fsync);
  ops.push_back(ReadOp(14, "dir"));
  ops.push_back(WriteOp(15, "dir", "x", v1::WRITE_MODE_AT));
  ops.push_back(ReadOp(16, "file"));  // positive control
  CallResult r = RunExecute(*server_->NewStub(), BatchOf(std::move(ops)), std::chrono::seconds(20));
  ASSERT_TRUE(r.status.ok()) << r.status.error_code() << " " << r.status.error_message();
  for (const auto& [tag, out] : GroupByTag(r.events)) {
    ASSERT_NE(out.terminal(), nullptr) << tag;
    const v1::Event& e = *out.terminal();
    if (tag == 16) {
      EXPECT_EQ(e.type(), v1::READ_COMPLETE) << Describe(e);
      continue;
    }
    EXPECT_EQ(e.type(), v1::OP_FAILED) << tag << ": " << Describe(e);
    EXPECT_EQ(e.error().code(), 9 /* FAILED_PRECONDITION */) << tag << ": " << Describe(e);
    if (tag < 14) {
      EXPECT_NE(e.error().message().find("not a regular file"), std::string::npos);
    }
  }
  EXPECT_FALSE(PathExists(server_->RootPath("c"))) << "a failed copy left its destination";
  ExpectAlive();
}

// ---- item 8: an acknowledged change is seen under every spelling ----------

TEST_F(HostileServerTest, NoStaleReadsAfterReplaceDeleteOrRenameUnderAnySpelling) {
  auto stub = server_->NewStub();
  v1::Op mkdir;
  mkdir.mutable_mkdir()->set_path("a");
  ASSERT_EQ(Run(mkdir).type(), v1::MKDIR_COMPLETE);
  ASSERT_EQ(Run(WriteOp(1, "a/f", "old")).type(), v1::WRITE_COMPLETE);
  const std::vector<std::string> spellings = {"a/f", "./a/f", "a//f", "a/./f"};
  auto read = [&](const std::string& path) {
    CallResult r = RunExecute(*stub, BatchOf({ReadOp(1, path)}));
    auto grouped = GroupByTag(r.events);
    const v1::Event* t = grouped[1].terminal();
    return t != nullptr && t->type() == v1::READ_COMPLETE ? grouped[1].data
                                                          : std::string("<failed>");
  };
  for (const auto& p : spellings) ASSERT_EQ(read(p), "old") << p;  // cached now
  ASSERT_EQ(Run(WriteOp(2, "a/f", "new", v1::WRITE_MODE_REPLACE_ATOMIC)).type(),
            v1::WRITE_COMPLETE);
  for (const auto& p : spellings) EXPECT_EQ(read(p), "new") << p;
  v1::Op del;
  del.mutable_delete_()->set_path("a/f");
  ASSERT_EQ(Run(del).type(), v1::DELETE_COMPLETE);
  for (const auto& p : spellings) EXPECT_EQ(read(p), "<failed>") << p;
  ASSERT_EQ(Run(WriteOp(3, "a/g", "first g")).type(), v1::WRITE_COMPLETE);
  ASSERT_EQ(read("./a/g"), "first g");
  v1::Op mv;
  mv.mutable_rename()->set_src("a");
  mv.mutable_rename()->set_dst("b");
  ASSERT_EQ(Run(mv).type(), v1::RENAME_COMPLETE);
  ASSERT_EQ(Run(mkdir).type(), v1::MKDIR_COMPLETE);
  ASSERT_EQ(Run(WriteOp(4, "a/g", "second g")).type(), v1::WRITE_COMPLETE);
  EXPECT_EQ(read("./a/g"), "second g");
  EXPECT_EQ(read("b/g"), "first g");
}

// ---- item 14: the right code for each mistake --------------------------------

TEST_F(HostileServerTest, EachMistakeGetsItsOwnCode) {
  // ".." out of the root through a missing directory: still an escape.
  v1::Event escape = Run(ReadOp(1, "nope/../../b"));
  EXPECT_EQ(escape.type(), v1::OP_FAILED);
  EXPECT_EQ(escape.error().code(), kCodePermissionDenied) << Describe(escape);
  // A symlink loop inside the root is no escape.
  ASSERT_EQ(symlink("loop2", server_->RootPath("loop1").c_str()), 0);
  ASSERT_EQ(symlink("loop1", server_->RootPath("loop2").c_str()), 0);
  v1::Event loop = Run(ReadOp(2, "loop1"));
  EXPECT_EQ(loop.type(), v1::OP_FAILED);
  EXPECT_EQ(loop.error().code(), 9 /* FAILED_PRECONDITION */) << Describe(loop);
  // A write that cannot reach its offset: refused before IO, no file left.
  v1::Op far = WriteOp(3, "far", "x", v1::WRITE_MODE_AT);
  far.mutable_write()->set_offset(1ull << 63);
  CallResult r = RunExecute(*server_->NewStub(), BatchOf({far}));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(r.status.error_message().find("ops[0].write.offset"), std::string::npos);
  // One the filesystem refuses at run time (ext4: 16 TiB; tmpfs may
  // accept it): whatever the answer, no empty file stays behind.
  v1::Op big = WriteOp(4, "big-offset", "x", v1::WRITE_MODE_AT);
  big.mutable_write()->set_offset((1ull << 62) + (1ull << 61));
  v1::Event e = Run(big);
  if (e.type() == v1::OP_FAILED) {
    EXPECT_FALSE(PathExists(server_->RootPath("big-offset"))) << Describe(e);
  }
  // A failed CREATE_NEW write on an existing file leaves it as it was.
  WriteFileOrDie(server_->RootPath("kept"), "kept");
  EXPECT_EQ(Run(WriteOp(5, "kept", "x", v1::WRITE_MODE_CREATE_NEW)).type(), v1::OP_FAILED);
  EXPECT_EQ(ReadFileOrDie(server_->RootPath("kept")), "kept");
}



// ---- item 11: half-sent HTTP requests do not block scrapes -----------------

TEST_F(HostileServerTest, HalfSentRequestsDoNotBlockMetricsScrapes) {
  std::vector<int> stalled;
  for (int i = 0; i < 8; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server_->metrics_port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    const char half[] = "GET /metrics HTTP/1.1\r\nHost: x";
    ASSERT_GT(write(fd, half, sizeof(half) - 1), 0);
    stalled.push_back(fd);
  }
  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<HttpResponse> scrape = HttpGet(server_->metrics_port(), "/metrics",
                                                std::chrono::seconds(20));
  std::cout << "scrape with 8 half-sent requests open took "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()
            << " s\n";
  for (int fd : stalled) close(fd);
  ASSERT_TRUE(scrape.ok()) << scrape.status();
  EXPECT_EQ(scrape->status, 200);
  EXPECT_NE(scrape->body.find("overlapd_ops_total"), std::string::npos);
}


// ---- item 10: server-wide memory budgets ----------------------------------

// The value of the first sample of `name` (with `labels` inside its braces,
// e.g. part="event_log") on the server's /metrics, or -1.
double MetricSample(const ServerProcess& srv, const std::string& name, const std::string& labels) {
  absl::StatusOr<HttpResponse> r = HttpGet(srv.metrics_port(), "/metrics");
  if (!r.ok()) return -1;
  const std::string head = labels.empty() ? name + " " : name + "{" + labels + "} ";
  size_t at = r->body.find("\n" + head);
  if (at == std::string::npos) return -1;
  return std::stod(r->body.substr(at + 1 + head.size()));
}

TEST(MemoryBudgetTest, StalledReadersAreCutAndTheReadBudgetHolds) {
  auto server = ServerProcess::Start({"--max-read-buffer-bytes", "64M",
                                      "--max-inflight-read-bytes", "16M",
                                      "--write-stall-seconds", "2"});
  ASSERT_TRUE(server.ok()) << server.status();
  ServerProcess& srv = **server;
  WriteFileOrDie(srv.RootPath("big"), RandomBytes(256u << 20, 31));
  WriteFileOrDie(srv.RootPath("small"), "small file");
  auto base = srv.Memory();
  ASSERT_TRUE(base.ok());
  // 12 readers that never read a byte of their answers: each would pin its
  // 16 MiB of credit (192 MiB in all) without the server-wide budget. With
  // it, 4 at a time get credit, stall and are cut; then the next 4.
  struct Stalled {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<v1::EventBatch>> reader;
  };
  std::vector<std::unique_ptr<Stalled>> stalled;
  std::vector<std::unique_ptr<v1::IoService::Stub>> stubs;
  constexpr int kStalled = 12;
  for (int i = 0; i < kStalled; ++i) {
    stubs.push_back(srv.NewStub());  // a connection each: no shared window
    auto s = std::make_unique<Stalled>();
    s->reader = stubs.back()->Execute(&s->ctx, BatchOf({ReadOp(1, "big")}));
    stalled.push_back(std::move(s));
  }
  // Until the server has cut them all for stalling (the budget was full
  // meanwhile), sample its memory.
  uint64_t peak = 0;
  double cut = 0;
  for (int i = 0; i < 1200 && cut < kStalled; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a sampling interval
    auto m = srv.Memory();
    if (m.ok()) peak = std::max(peak, m->rss);
    double used = MetricSample(srv, "overlapd_memory_used_bytes", "part=\"read_buffers\"");
    EXPECT_LE(used, 64.0 * (1 << 20) + (1 << 20)) << "the read budget was overrun";
    cut = MetricSample(srv, "overlapd_streams_cut_total", "");
  }
  EXPECT_EQ(cut, kStalled) << "stalled streams were not cut";
  std::cout << "RSS " << (base->rss >> 20) << " MiB before, peak " << (peak >> 20) << " MiB with "
            << kStalled << " stalled readers of 16 MiB credit each, budget 64 MiB\n";
  // Budget 64 MiB plus gRPC's own buffers and the allocator's slack.
  EXPECT_LT(peak, base->rss + (150u << 20));
  // A well-behaved client is served.
  v1::Event e = RunOneOp(*srv.NewStub(), ReadOp(2, "small"));
  EXPECT_EQ(e.type(), v1::READ_COMPLETE) << Describe(e);
  for (auto& s : stalled) s->ctx.TryCancel();
}

TEST(MemoryBudgetTest, CompressedRequestsAreRefusedBeforeTheyInflate) {
  auto server = ServerProcess::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  ServerProcess& srv = **server;
  grpc::ChannelArguments args;
  args.SetCompressionAlgorithm(GRPC_COMPRESS_GZIP);
  args.SetMaxSendMessageSize(128 << 20);
  auto channel = grpc::CreateCustomChannel(srv.address(), grpc::InsecureChannelCredentials(), args);
  auto stub = v1::IoService::NewStub(channel);
  auto base = srv.Memory();
  ASSERT_TRUE(base.ok());
  // 60 MiB of zeros: about 60 KiB on the wire.
  CallResult r = RunExecute(*stub, BatchOf({WriteOp(1, "bomb", std::string(60u << 20, '\0'))}));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << r.status.error_message();
  EXPECT_FALSE(PathExists(srv.RootPath("bomb")));
  auto after = srv.Memory();
  ASSERT_TRUE(after.ok());
  EXPECT_LT(after->peak_rss, base->peak_rss + (40u << 20)) << "the message was inflated";
  // The same channel without compression is served.
  CallResult plain = RunExecute(*srv.NewStub(), BatchOf({WriteOp(2, "plain", "x")}));
  EXPECT_TRUE(plain.status.ok()) << plain.status.error_message();
}

TEST(MemoryBudgetTest, EventLogIsBoundedInBytes) {
  auto server = ServerProcess::Start({"--event-log-bytes", "4M"});
  ASSERT_TRUE(server.ok()) << server.status();
  ServerProcess& srv = **server;
  auto stub = srv.NewStub();
  // Failed Stats of ~3.8 KB paths: each event carries the path twice.
  std::string path;
  for (int i = 0; i < 15; ++i) absl::StrAppend(&path, std::string(250, 'a' + i), "/");
  path += "missing";
  std::vector<uint64_t> ids;
  for (int j = 0; j < 5; ++j) {
    v1::Batch b;
    for (int i = 0; i < 1000; ++i) b.add_ops()->mutable_stat()->set_path(path);
    grpc::ClientContext ctx;
    v1::Job job;
    ASSERT_TRUE(stub->Submit(&ctx, b, &job).ok());
    ids.push_back(job.id());
  }
  for (uint64_t id : ids) {
    for (int i = 0; i < 600; ++i) {
      grpc::ClientContext ctx;
      v1::GetJobRequest req;
      req.set_id(id);
      v1::Job job;
      ASSERT_TRUE(stub->GetJob(&ctx, req, &job).ok());
      if (job.state() != v1::RUNNING && job.state() != v1::QUEUED) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling a job
    }
  }
  double used = MetricSample(srv, "overlapd_memory_used_bytes", "part=\"event_log\"");
  double budget = MetricSample(srv, "overlapd_memory_budget_bytes", "part=\"event_log\"");
  EXPECT_EQ(budget, 4.0 * (1 << 20));
  EXPECT_GT(used, 1.0 * (1 << 20)) << "the log held next to nothing: was anything logged?";
  EXPECT_LE(used, budget);
  // A subscriber from the start learns exactly how much it lost.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::SubscribeRequest req;
  req.set_from_seq(1);
  auto reader = stub->Subscribe(&ctx, req);
  v1::EventBatch msg;
  ASSERT_TRUE(reader->Read(&msg));
  ASSERT_GT(msg.events_size(), 0);
  EXPECT_EQ(msg.events(0).type(), v1::EVENTS_LOST);
  EXPECT_GT(msg.events(0).count(), 4000u);
  ctx.TryCancel();
}

TEST(MemoryBudgetTest, StreamsOverTheServerLimitAreRefused) {
  auto server = ServerProcess::Start({"--max-streams", "4"});
  ASSERT_TRUE(server.ok()) << server.status();
  ServerProcess& srv = **server;
  auto stub = srv.NewStub();
  struct Open {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReaderWriter<v1::Batch, v1::EventBatch>> stream;
  };
  std::vector<std::unique_ptr<Open>> open;
  for (int i = 0; i < 4; ++i) {
    auto o = std::make_unique<Open>();
    o->stream = stub->Session(&o->ctx);
    // One answered batch: the stream is open on the server.
    v1::Batch b = BatchOf({ReadOp(1, "nothing")});
    ASSERT_TRUE(o->stream->Write(b));
    v1::EventBatch msg;
    bool done = false;
    while (!done && o->stream->Read(&msg)) {
      for (const auto& e : msg.events()) done |= e.type() == v1::BATCH_COMPLETE;
    }
    ASSERT_TRUE(done);
    open.push_back(std::move(o));
  }
  CallResult refused = RunExecute(*stub, BatchOf({ReadOp(1, "nothing")}));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.status.error_message().find("--max-streams"), std::string::npos);
  for (auto& o : open) {
    o->stream->WritesDone();
    o->stream->Finish();
  }
  CallResult later = RunExecute(*stub, BatchOf({ReadOp(1, "nothing")}));
  EXPECT_TRUE(later.status.ok()) << later.status.error_message();
}


// ---- item 2: running out of file descriptors --------------------------------

TEST(DescriptorTest, ServerAcceptsAgainAfterRunningOutOfDescriptors) {
  auto server = ServerProcess::Start({"--max-open-files", "256"});
  ASSERT_TRUE(server.ok()) << server.status();
  ServerProcess& srv = **server;
  for (int i = 0; i < 300; ++i) WriteFileOrDie(srv.RootPath(absl::StrCat("f", i)), "data");
  // A burst of raw connections past the server's limit.
  std::vector<int> flood;
  for (int i = 0; i < 400; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(srv.grpc_port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    flood.push_back(fd);
  }
  ASSERT_TRUE(srv.WaitForLog("out of file descriptors", std::chrono::seconds(10)))
      << "the limit was never reached: the test tested nothing";
  for (int fd : flood) close(fd);
  // Accepting again, once the flood has gone.
  bool served = false;
  for (int i = 0; i < 100 && !served; ++i) {
    auto stub = srv.NewStub();
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    v1::Capabilities caps;
    served = stub->GetCapabilities(&ctx, {}, &caps).ok();
  }
  EXPECT_TRUE(served) << "the server stopped accepting connections";
  // More files in flight than its descriptors allow: the rest fail with
  // RESOURCE_EXHAUSTED, none hangs, and the server goes on.
  std::vector<v1::Op> ops;
  for (int i = 0; i < 300; ++i) ops.push_back(ReadOp(i, absl::StrCat("f", i)));
  CallResult r = RunExecute(*srv.NewStub(), BatchOf(std::move(ops)), std::chrono::seconds(30));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  int ok = 0, exhausted = 0;
  for (const auto& [tag, out] : GroupByTag(r.events)) {
    ASSERT_NE(out.terminal(), nullptr) << tag;
    ok += out.terminal()->type() == v1::READ_COMPLETE;
    exhausted += out.terminal()->error().code() == kCodeResourceExhausted;
  }
  EXPECT_EQ(ok + exhausted, 300);
  EXPECT_GT(ok, 0);
}


// ---- item 12: names that are not UTF-8 --------------------------------------

TEST_F(HostileServerTest, NamesThatAreNotUtf8ListAndOpenByTheirWireName) {
  // Latin-1 "café", a name cut inside a character, and a real U+F7A9 (the
  // escape range itself, which must not be mistaken for an escape).
  const std::vector<std::string> raw = {"caf\xe9.txt", "cut\xc3", "pua\xef\x9e\xa9"};
  for (const auto& name : raw) WriteFileOrDie(server_->RootPath(name), "content of " + name);
  WriteFileOrDie(server_->RootPath("plain.txt"), "plain");
  // A subscriber following session events must live through the listing.
  grpc::ClientContext sub_ctx;
  sub_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::SubscribeRequest req;
  req.set_include_session_events(true);
  auto sub_stub = server_->NewStub();
  auto sub = sub_stub->Subscribe(&sub_ctx, req);
  v1::Op list;
  list.set_tag(1);
  list.mutable_list()->set_path("");
  v1::Event listed = Run(list);
  ASSERT_EQ(listed.type(), v1::LIST_COMPLETE) << Describe(listed);
  std::vector<std::string> wire_names;
  for (const auto& e : listed.entries()) {
    if (e.name() != "plain.txt" && e.name() != "alive.txt") wire_names.push_back(e.name());
  }
  ASSERT_EQ(wire_names.size(), raw.size());
  for (const auto& name : wire_names) {
    v1::Event read = Run(ReadOp(2, name));
    ASSERT_EQ(read.type(), v1::READ_COMPLETE) << Describe(read);
    // The file it opened is the one whose bytes the name stands for.
    bool matched = false;
    for (const auto& r : raw) {
      matched |= read.crc32c() == SoftCrc32c("content of " + r) && read.bytes() == 11 + r.size();
    }
    EXPECT_TRUE(matched) << "read of a listed name opened another file";
  }
  // The subscriber got the LIST_COMPLETE (entries and all) and goes on.
  v1::EventBatch msg;
  bool saw_list = false;
  while (!saw_list && sub->Read(&msg)) {
    for (const auto& e : msg.events()) saw_list |= e.type() == v1::LIST_COMPLETE;
  }
  EXPECT_TRUE(saw_list) << sub->Finish().error_message();
  sub_ctx.TryCancel();
  ExpectAlive();
}


TEST(MemoryBudgetTest, RapidResetFloodLeavesNoMemoryBehind) {
  auto server = ServerProcess::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  ServerProcess& srv = **server;
  WriteFileOrDie(srv.RootPath("small"), RandomBytes(256 << 10, 3));
  auto stub = srv.NewStub();
  auto base = srv.Memory();
  ASSERT_TRUE(base.ok());
  // Streams opened and reset at once, one after another on one connection
  // (HTTP/2 "rapid reset"), bounded in count and time.
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int streams = 0;
  for (; streams < 20000 && std::chrono::steady_clock::now() < end; ++streams) {
    grpc::ClientContext ctx;
    auto reader = stub->Execute(&ctx, BatchOf({ReadOp(1, "small")}));
    ctx.TryCancel();
    reader->Finish();
  }
  auto during = srv.Memory();
  ASSERT_TRUE(during.ok()) << "the server died";
  // Memory comes back (freed memory is returned every 10 s).
  uint64_t rss = during->rss;
  for (int i = 0; i < 150 && rss > base->rss + (64u << 20); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // sampling
    auto m = srv.Memory();
    ASSERT_TRUE(m.ok());
    rss = m->rss;
  }
  std::cout << streams << " streams reset: RSS " << (base->rss >> 20) << " MiB before, "
            << (during->peak_rss >> 20) << " MiB peak, " << (rss >> 20) << " MiB after\n";
  EXPECT_LT(rss, base->rss + (64u << 20)) << "memory stayed behind";
  v1::Event e = RunOneOp(*srv.NewStub(), ReadOp(2, "small"));
  EXPECT_EQ(e.type(), v1::READ_COMPLETE) << Describe(e);
}

// ---- items 5 and 6: a token's prefix is a second sandbox ---------------------

constexpr char kPubRead[] = "pub-read-0123456789abcdef";
constexpr char kPubWrite[] = "pub-write-0123456789abcdef";
constexpr char kAdmin[] = "admin-token-0123456789abcdef";

class PrefixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFileOrDie(dir_.Join("tokens"), absl::StrCat(kPubRead, " read pub\n", kPubWrite,
                                                     " read,write pub\n", kAdmin, " read,write\n"));
    auto server = ServerProcess::Start({"--tokens", dir_.Join("tokens")});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = server_->NewStub();
    for (const char* d : {"pub", "secret"}) ASSERT_EQ(mkdir(Root(d).c_str(), 0755), 0);
    WriteFileOrDie(Root("secret/s.txt"), "secret");
    WriteFileOrDie(Root("secret/victim.txt"), "victim");
    WriteFileOrDie(Root("pub/own.txt"), "public");
    ASSERT_EQ(symlink("../secret/s.txt", Root("pub/link_secret").c_str()), 0);
    ASSERT_EQ(symlink("../secret", Root("pub/link_dir").c_str()), 0);
  }
  std::string Root(const std::string& p) const { return server_->RootPath(p); }

  v1::Event RunAs(const char* token, v1::Op op) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    v1::Batch batch;
    *batch.add_ops() = std::move(op);
    auto reader = stub_->Execute(&ctx, batch);
    v1::EventBatch msg;
    v1::Event terminal;
    while (reader->Read(&msg)) {
      for (const auto& e : msg.events()) {
        if (e.type() != v1::BATCH_COMPLETE && e.type() != v1::READ_CHUNK) terminal = e;
      }
    }
    grpc::Status st = reader->Finish();
    EXPECT_TRUE(st.ok()) << st.error_message();
    return terminal;
  }
  uint64_t SubmitAs(const char* token, const std::vector<std::string>& stat_paths) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    v1::Batch batch;
    for (const auto& p : stat_paths) batch.add_ops()->mutable_stat()->set_path(p);
    v1::Job job;
    grpc::Status st = stub_->Submit(&ctx, batch, &job);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return job.id();
  }

  TempDir dir_{"overlapd-prefix-"};
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<v1::IoService::Stub> stub_;
};

TEST_F(PrefixTest, SymlinksInsideThePrefixCannotLeadOutOfIt) {
  auto denied = [](const v1::Event& e) {
    return e.type() == v1::OP_FAILED && e.error().code() == kCodePermissionDenied;
  };
  // Positive controls: the prefix's own file, and the admin through the link.
  EXPECT_EQ(RunAs(kPubRead, ReadOp(1, "pub/own.txt")).type(), v1::READ_COMPLETE);
  EXPECT_EQ(RunAs(kAdmin, ReadOp(1, "pub/link_secret")).type(), v1::READ_COMPLETE);

  EXPECT_TRUE(denied(RunAs(kPubRead, ReadOp(1, "pub/link_secret"))));
  EXPECT_TRUE(denied(RunAs(kPubRead, ReadOp(1, "./pub//link_dir/s.txt"))));
  v1::Op list;
  list.mutable_list()->set_path("pub/link_dir");
  EXPECT_TRUE(denied(RunAs(kPubRead, list)));
  v1::Op stat;
  stat.mutable_stat()->set_path("pub/link_dir/victim.txt");
  EXPECT_TRUE(denied(RunAs(kPubRead, stat)));

  EXPECT_TRUE(denied(RunAs(kPubWrite, WriteOp(1, "pub/link_secret", "", v1::WRITE_MODE_TRUNCATE))));
  EXPECT_TRUE(denied(RunAs(kPubWrite, WriteOp(1, "pub/link_dir/new.txt", "x"))));
  v1::Op mv;
  mv.mutable_rename()->set_src("pub/link_dir/victim.txt");
  mv.mutable_rename()->set_dst("pub/victim.txt");
  EXPECT_TRUE(denied(RunAs(kPubWrite, mv)));
  v1::Op mkdir;
  mkdir.mutable_mkdir()->set_path("pub/link_dir/made");
  EXPECT_TRUE(denied(RunAs(kPubWrite, mkdir)));
  v1::Op copy;
  copy.mutable_copy()->set_src("pub/link_secret");
  copy.mutable_copy()->set_dst("pub/stolen.txt");
  EXPECT_TRUE(denied(RunAs(kPubWrite, copy)));

  EXPECT_EQ(ReadFileOrDie(Root("secret/s.txt")), "secret");
  EXPECT_EQ(ReadFileOrDie(Root("secret/victim.txt")), "victim");
  EXPECT_FALSE(PathExists(Root("secret/made")));
  EXPECT_FALSE(PathExists(Root("secret/new.txt")));
  EXPECT_FALSE(PathExists(Root("pub/stolen.txt")));
  // The prefix directory itself is the token's: it may make it again.
  v1::Op rmdir;
  ASSERT_EQ(unlink(Root("pub/link_secret").c_str()), 0);
  ASSERT_EQ(unlink(Root("pub/link_dir").c_str()), 0);
  ASSERT_EQ(unlink(Root("pub/own.txt").c_str()), 0);
  rmdir.mutable_delete_()->set_path("pub");
  rmdir.mutable_delete_()->set_directory(true);
  EXPECT_EQ(RunAs(kPubWrite, rmdir).type(), v1::DELETE_COMPLETE);
  v1::Op remake;
  remake.mutable_mkdir()->set_path("pub");
  EXPECT_EQ(RunAs(kPubWrite, remake).type(), v1::MKDIR_COMPLETE);
}

TEST_F(PrefixTest, SubscribersSeeOnlyTheirPrefixWholeComponentsNormalised) {
  for (const char* d : {"public"}) ASSERT_EQ(mkdir(Root(d).c_str(), 0755), 0);
  WriteFileOrDie(Root("public/x.txt"), "x");
  WriteFileOrDie(Root("pubsecret.txt"), "x");
  // Another token's job on look-alike paths, then one of the prefix's own.
  const uint64_t admin_job =
      SubmitAs(kAdmin, {"public/x.txt", "pubsecret.txt", "pub/../secret/s.txt", "pub/own.txt"});
  const uint64_t own_job = SubmitAs(kPubWrite, {"pub/own.txt", "pub/./own.txt"});
  auto subscribe = [&](v1::SubscribeRequest req) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", kPubRead));
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    req.set_from_seq(0);
    auto reader = stub_->Subscribe(&ctx, req);
    std::vector<v1::Event> seen;
    v1::EventBatch msg;
    int own_stats = 0;
    while (own_stats < 2 && reader->Read(&msg)) {
      for (const auto& e : msg.events()) {
        seen.push_back(e);
        own_stats += e.job_id() == own_job && e.type() == v1::STAT_COMPLETE;
      }
    }

    ctx.TryCancel();
    EXPECT_EQ(own_stats, 2) << "the prefix's own job never showed: " << seen.size()
                            << " events";
    return seen;
  };
  v1::SubscribeRequest by_prefix;
  by_prefix.set_path_prefix("pub");
  v1::SubscribeRequest by_job;  // a prefixed token must name a prefix
  by_job.set_path_prefix("pub/");
  by_job.add_job_ids(admin_job);
  by_job.add_job_ids(own_job);
  for (const auto& req : {by_prefix, by_job}) {
    std::vector<v1::Event> seen = subscribe(req);
    int own = 0;
    for (const auto& e : seen) {
      EXPECT_NE(e.job_id(), admin_job) << "another token's job leaked: " << Describe(e);
      if (e.job_id() == own_job && e.type() == v1::STAT_COMPLETE) ++own;
    }
    EXPECT_EQ(own, 2);
  }
}

}  // namespace
}  // namespace overlapd::itest
