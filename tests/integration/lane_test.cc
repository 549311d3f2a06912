// The buffer lane end to end: a real overlapd, real clients registering
// real memfds over its Unix socket, reads landing in them and writes taken
// from them, and every refusal with its code (each beside a positive
// control).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "clients/cpp/client.h"
#include "clients/cpp/shared_buffer.h"
#include "tests/integration/server_test.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

constexpr uint64_t kGiB = 1ull << 30;
constexpr uint64_t kMiB = 1ull << 20;

class LaneTest : public ServerTest {
 protected:
  void Start(std::vector<std::string> flags = {}) {
    ASSERT_NO_FATAL_FAILURE(StartServer(flags));
    ConnectOptions options;
    options.token = token_;
    auto client = Client::Connect(server_->address(), options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    auto caps = client_->Capabilities();
    ASSERT_TRUE(caps.ok()) << caps.status();
    caps_ = *caps;
  }

  std::unique_ptr<SharedBuffer> Buffer(uint64_t size, char fill = '\0') {
    auto buf = SharedBuffer::Create(size);
    EXPECT_TRUE(buf.ok()) << buf.status();
    if (!buf.ok()) return nullptr;
    if (fill != '\0') memset((*buf)->data(), fill, size);
    absl::Status registered = (*buf)->Register(caps_.buffer_socket(), token_);
    EXPECT_TRUE(registered.ok()) << registered;
    return *std::move(buf);
  }

  // The batch's status: Execute's call status (refusals come back so).
  grpc::Status Run(const v1::Batch& batch, std::vector<v1::Event>* events = nullptr) {
    auto stub = server_->NewStub();
    CallResult r = RunExecute(*stub, batch);
    if (events != nullptr) *events = r.events;
    return r.status;
  }

  double Gauge(const std::string& series) {
    auto page = HttpGet(server_->metrics_port(), "/metrics");
    if (!page.ok()) return -1;
    for (absl::string_view line : absl::StrSplit(page->body, '\n')) {
      if (absl::StartsWith(line, series + " ")) {
        double v = -1;
        if (absl::SimpleAtod(line.substr(series.size() + 1), &v)) return v;
      }
    }
    return -1;
  }

  std::string token_;
  std::unique_ptr<Client> client_;
  v1::Capabilities caps_;
};

v1::Op IntoOp(uint64_t tag, const std::string& path, const SharedBuffer& buf, uint64_t at,
              uint64_t offset = 0, uint64_t length = 0) {
  v1::Op op = ReadOp(tag, path, offset, length);
  op.mutable_read()->mutable_into()->set_handle(buf.handle());
  op.mutable_read()->mutable_into()->set_offset(at);
  return op;
}

// The whole file, mapped, to compare with a buffer without a second copy.
bool SameAsFile(const std::string& path, const char* data, uint64_t size) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  void* p = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return false;
  const bool same = memcmp(p, data, size) == 0;
  munmap(p, size);
  return same;
}

TEST_F(LaneTest, CapabilitiesReportTheLane) {
  ASSERT_NO_FATAL_FAILURE(Start());
  EXPECT_TRUE(caps_.buffer_lane());
  EXPECT_EQ(caps_.buffer_socket(), server_->root() + ".sock");
  EXPECT_GT(caps_.max_buffer_bytes(), 0u);
  EXPECT_TRUE(LaneReachable(caps_.buffer_lane(), caps_.buffer_socket()).ok());
}

TEST_F(LaneTest, OneGiBReadIntoABufferIsByteIdenticalAndEveryChunkCrcMatches) {
  ASSERT_NO_FATAL_FAILURE(Start());
  ASSERT_NO_FATAL_FAILURE(WriteRandomFile(server_->RootPath("big.bin"), kGiB, 7));
  auto buf = Buffer(kGiB);
  ASSERT_NE(buf, nullptr);
  // verify: the client checks each chunk's CRC32C against the buffer.
  auto got = client_->ReadInto("big.bin", *buf, {.verify = true});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->bytes, kGiB);
  EXPECT_EQ(got->chunks, kGiB / caps_.chunk_bytes());
  EXPECT_TRUE(SameAsFile(server_->RootPath("big.bin"), buf->data(), kGiB));
  // Positive control: a changed byte is seen.
  buf->data()[kGiB / 2] ^= 1;
  EXPECT_FALSE(SameAsFile(server_->RootPath("big.bin"), buf->data(), kGiB));
  EXPECT_GE(Gauge("overlapd_lane_bytes_total{direction=\"read\"}"), static_cast<double>(kGiB));
}

TEST_F(LaneTest, WriteFrom256MiBRoundTrips) {
  ASSERT_NO_FATAL_FAILURE(Start());
  constexpr uint64_t kSize = 256 * kMiB;
  auto buf = Buffer(kSize + 4096);
  ASSERT_NE(buf, nullptr);
  const std::string seed = RandomBytes(kMiB, 3);
  for (uint64_t off = 0; off < kSize; off += kMiB) {
    memcpy(buf->data() + 4096 + off, seed.data(), kMiB);
    buf->data()[4096 + off] = static_cast<char>(off / kMiB);  // no two MiB alike
  }
  v1::Write mode;
  mode.set_mode(v1::WRITE_MODE_TRUNCATE);
  auto done = client_->WriteFrom("w.bin", *buf, 4096, kSize, mode);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->bytes(), kSize);
  ASSERT_EQ(std::filesystem::file_size(server_->RootPath("w.bin")), kSize);
  EXPECT_TRUE(SameAsFile(server_->RootPath("w.bin"), buf->data() + 4096, kSize));
  // And back, into a second buffer, over the lane.
  auto back = Buffer(kSize);
  ASSERT_NE(back, nullptr);
  auto got = client_->ReadInto("w.bin", *back);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->crc32c, done->crc32c());
  EXPECT_EQ(memcmp(back->data(), buf->data() + 4096, kSize), 0);
}

TEST_F(LaneTest, ReadsLandAtANonZeroBufferOffsetAndNowhereElse) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const std::string content = RandomBytes(300000, 11);
  WriteFileOrDie(server_->RootPath("f.bin"), content);
  auto buf = Buffer(kMiB, '\xAB');
  ASSERT_NE(buf, nullptr);
  auto got = client_->ReadInto("f.bin", *buf,
                               {.buffer_offset = 12345, .offset = 1000, .length = 200000});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->bytes, 200000u);
  EXPECT_EQ(memcmp(buf->data() + 12345, content.data() + 1000, 200000), 0);
  const std::string before(12345, '\xAB');
  EXPECT_EQ(std::string(buf->data(), 12345), before);
  const uint64_t end = 12345 + 200000;
  EXPECT_EQ(std::string(buf->data() + end, kMiB - end), std::string(kMiB - end, '\xAB'));
}

TEST_F(LaneTest, HundredSmallFilesInOneBatchLandInDisjointSlices) {
  ASSERT_NO_FATAL_FAILURE(Start());
  auto buf = Buffer(100 * 8192, '\xCD');
  ASSERT_NE(buf, nullptr);
  v1::Batch batch;
  std::vector<std::string> contents;
  for (int i = 0; i < 100; ++i) {
    contents.push_back(RandomBytes(1000 + i * 61, 100 + i));
    const std::string name = absl::StrCat("s/", i, ".bin");
    std::filesystem::create_directories(server_->RootPath("s"));
    WriteFileOrDie(server_->RootPath(name), contents.back());
    *batch.add_ops() = IntoOp(i, name, *buf, i * 8192);
  }
  std::vector<v1::Event> events;
  grpc::Status status = Run(batch, &events);
  ASSERT_TRUE(status.ok()) << status.error_message();
  int completes = 0;
  for (const v1::Event& e : events) {
    EXPECT_TRUE(e.data().empty()) << Describe(e);  // no bytes over gRPC
    if (e.type() == v1::READ_COMPLETE) ++completes;
    if (e.type() == v1::READ_CHUNK) {
      EXPECT_EQ(e.crc32c(), SoftCrc32c(contents[e.tag()].substr(e.offset(), e.bytes())));
    }
  }
  EXPECT_EQ(completes, 100);
  for (int i = 0; i < 100; ++i) {
    const char* slice = buf->data() + i * 8192;
    EXPECT_EQ(std::string(slice, contents[i].size()), contents[i]) << i;
    EXPECT_EQ(std::string(slice + contents[i].size(), 8192 - contents[i].size()),
              std::string(8192 - contents[i].size(), '\xCD'))
        << i;
  }
}

TEST_F(LaneTest, RangesOutsideTheBufferAndUnknownHandlesAreRefusedBeforeAnyIo) {
  ASSERT_NO_FATAL_FAILURE(Start());
  WriteFileOrDie(server_->RootPath("f.bin"), RandomBytes(8192, 5));
  auto buf = Buffer(8192, '\xEE');
  ASSERT_NE(buf, nullptr);
  auto untouched = [&] { return std::string(buf->data(), 8192) == std::string(8192, '\xEE'); };

  v1::Batch overflow;
  *overflow.add_ops() = IntoOp(1, "f.bin", *buf, 4096, 0, 8192);  // 4096 + 8192 > 8192
  grpc::Status s = Run(overflow);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("ops[0].read.into"), std::string::npos) << s.error_message();

  v1::Batch past_end;
  *past_end.add_ops() = IntoOp(1, "f.bin", *buf, 8193, 0, 0);
  EXPECT_EQ(Run(past_end).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  v1::Batch unknown;
  *unknown.add_ops() = IntoOp(1, "f.bin", *buf, 0, 0, 100);
  unknown.mutable_ops(0)->mutable_read()->mutable_into()->set_handle(RandomBytes(16, 9));
  s = Run(unknown);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();

  v1::Batch short_handle;
  *short_handle.add_ops() = IntoOp(1, "f.bin", *buf, 0, 0, 100);
  short_handle.mutable_ops(0)->mutable_read()->mutable_into()->set_handle("abc");
  EXPECT_EQ(Run(short_handle).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // A read to EOF of a file larger than the room left fails the op.
  v1::Batch to_eof;
  *to_eof.add_ops() = IntoOp(1, "f.bin", *buf, 100);
  std::vector<v1::Event> events;
  ASSERT_TRUE(Run(to_eof, &events).ok());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].type(), v1::OP_FAILED) << Describe(events[0]);
  EXPECT_EQ(events[0].error().code(), static_cast<int>(grpc::StatusCode::OUT_OF_RANGE));

  // A write from outside the buffer creates nothing.
  v1::Batch write;
  v1::Write* w = write.add_ops()->mutable_write();
  w->set_path("new.bin");
  w->mutable_from()->set_handle(buf->handle());
  w->mutable_from()->set_offset(4096);
  w->mutable_from()->set_length(4097);
  EXPECT_EQ(Run(write).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(PathExists(server_->RootPath("new.bin")));
  EXPECT_TRUE(untouched());

  // Positive control: the same reads, in range, land.
  v1::Batch fits;
  *fits.add_ops() = IntoOp(1, "f.bin", *buf, 4096, 0, 4096);
  ASSERT_TRUE(Run(fits).ok());
  EXPECT_FALSE(untouched());
  w->mutable_from()->set_length(4096);
  ASSERT_TRUE(Run(write).ok());
  EXPECT_TRUE(PathExists(server_->RootPath("new.bin")));
}

TEST_F(LaneTest, AHandleOfAClosedConnectionIsUnknown) {
  ASSERT_NO_FATAL_FAILURE(Start());
  WriteFileOrDie(server_->RootPath("f.bin"), "hello");
  auto other = Buffer(4096);
  ASSERT_NE(other, nullptr);
  v1::Batch batch;
  *batch.add_ops() = IntoOp(1, "f.bin", *other, 0);
  ASSERT_TRUE(Run(batch).ok());  // positive control: while registered
  other->Unregister();
  // Closing is seen by the server's lane thread; wait (bounded) on its gauge.
  for (int i = 0; i < 200 && Gauge("overlapd_buffers{state=\"registered\"}") != 0; ++i) {
    usleep(50'000);
  }
  grpc::Status s = Run(batch);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
}

// Per-connection limits need a server-wide budget above them: many
// connections each within --max-buffer-bytes must not map more than
// --max-buffer-total-bytes together.
TEST_F(LaneTest, ConnectionsTogetherStayWithinTheServerWideBudget) {
  ASSERT_NO_FATAL_FAILURE(
      Start({"--max-buffer-bytes", "64M", "--max-buffer-total-bytes", "96M"}));
  auto first = Buffer(64 * kMiB);  // its own connection, within both limits
  ASSERT_NE(first, nullptr);
  auto second = SharedBuffer::Create(64 * kMiB);
  ASSERT_TRUE(second.ok()) << second.status();
  absl::Status refused = (*second)->Register(caps_.buffer_socket(), token_);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_NE(refused.message().find("--max-buffer-total-bytes"), std::string::npos) << refused;
  // Positive control: what is left of the budget can be registered...
  auto third = Buffer(32 * kMiB);
  ASSERT_NE(third, nullptr);
  // ...and a closed connection gives its bytes back.
  first.reset();
  third.reset();
  absl::Status again = absl::UnknownError("not tried");
  for (int i = 0; i < 200 && !again.ok(); ++i) {  // the close is processed asynchronously
    again = (*second)->Register(caps_.buffer_socket(), token_);
    if (!again.ok()) usleep(50'000);
  }
  EXPECT_TRUE(again.ok()) << again;
}

TEST_F(LaneTest, RegistrationRefusesWhatIsNotASealedMemfdWithinTheLimit) {
  ASSERT_NO_FATAL_FAILURE(Start({"--max-buffer-bytes", "1M"}));
  const std::string sock = caps_.buffer_socket();
  auto code = [&](int fd) { return RegisterLaneFd(sock, fd).status().code(); };

  int unsealed = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_EQ(ftruncate(unsealed, 4096), 0);
  EXPECT_EQ(code(unsealed), absl::StatusCode::kFailedPrecondition);

  const std::string file = server_->ScratchPath("regular");
  WriteFileOrDie(file, std::string(4096, 'x'));
  int regular = open(file.c_str(), O_RDWR | O_CLOEXEC);
  EXPECT_EQ(code(regular), absl::StatusCode::kInvalidArgument);
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  EXPECT_EQ(code(pair[0]), absl::StatusCode::kInvalidArgument);

  int big = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_EQ(ftruncate(big, 2 * kMiB), 0);
  ASSERT_EQ(fcntl(big, F_ADD_SEALS, F_SEAL_SHRINK), 0);
  EXPECT_EQ(code(big), absl::StatusCode::kResourceExhausted);

  // Positive controls: sealed, within the limit; then the same fd sealed.
  ASSERT_EQ(fcntl(unsealed, F_ADD_SEALS, F_SEAL_SHRINK), 0);
  auto ok = RegisterLaneFd(sock, unsealed);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->bytes, 4096u);
  EXPECT_EQ(ok->handle.size(), 16u);
  close(ok->conn_fd);
  for (int fd : {unsealed, regular, pair[0], pair[1], big}) close(fd);
  EXPECT_NE(server_->Log().find("buffer lane: connection"), std::string::npos);
  EXPECT_NE(server_->Log().find(" pid "), std::string::npos);
}

// Bounded wait for the server to have released every buffer.
TEST_F(LaneTest, ClosingTheConnectionMidReadNeitherCrashesNorLeaks) {
  // No fd cache: a cached file ageing out during the rounds would take a
  // descriptor away from the count and hide a leaked one.
  ASSERT_NO_FATAL_FAILURE(Start({"--fd-cache", "0"}));
  ASSERT_NO_FATAL_FAILURE(WriteRandomFile(server_->RootPath("big.bin"), kGiB, 21));
  auto fds = [&] {
    return std::distance(std::filesystem::directory_iterator(
                             absl::StrCat("/proc/", server_->pid(), "/fd")),
                         std::filesystem::directory_iterator());
  };
  // Baseline after one warm-up read (fd cache, engine buffers settle).
  {
    auto warm = Buffer(kGiB);
    ASSERT_NE(warm, nullptr);
    ASSERT_TRUE(client_->ReadInto("big.bin", *warm, {.verify = false}).ok());
  }
  // The warm-up buffer's registration ends when the server has processed
  // its connection's close: until then it is still "registered" (and its
  // mapping and socket still count), so wait for both gauges.
  for (int i = 0; i < 200 && (Gauge("overlapd_buffers{state=\"released\"}") != 0 ||
                              Gauge("overlapd_buffers{state=\"registered\"}") != 0);
       ++i) {
    usleep(50'000);
  }
  // The baseline once it holds still (a metrics scrape's socket is closed
  // by the server a moment after the scrape has its answer).
  auto fds_before = fds();
  for (int i = 0, same = 0; i < 100 && same < 3; ++i) {
    usleep(50'000);
    const auto now = fds();
    same = now == fds_before ? same + 1 : 0;
    fds_before = now;
  }
  const auto rss_before = server_->Memory();
  ASSERT_TRUE(rss_before.ok());

  bool closed_in_flight = false;
  for (int round = 0; round < 3; ++round) {
    auto buf = Buffer(kGiB);
    ASSERT_NE(buf, nullptr);
    v1::Batch batch;
    *batch.add_ops() = IntoOp(1, "big.bin", *buf, 0);
    bool complete = false;
    absl::Status s = client_->Execute(batch, [&](const v1::Event& e) {
      if (e.type() == v1::READ_CHUNK && buf->registered()) {
        closed_in_flight = closed_in_flight || !complete;
        buf->Unregister();  // the server must keep its mapping until the op ends
      }
      if (e.type() == v1::READ_COMPLETE) complete = true;
    });
    EXPECT_TRUE(s.ok()) << s;
  }
  EXPECT_TRUE(closed_in_flight) << "nothing tested: no read was in flight at the close";
  ASSERT_TRUE(client_->Capabilities().ok());  // still serving
  double released = -1, registered = -1;
  for (int i = 0; i < 200; ++i) {
    released = Gauge("overlapd_buffers{state=\"released\"}");
    registered = Gauge("overlapd_buffers{state=\"registered\"}");
    if (released == 0 && registered == 0) break;
    usleep(50'000);
  }
  EXPECT_EQ(released, 0);
  EXPECT_EQ(registered, 0);
  // The server closes a connection's socket before its gauges move, so the
  // count is final here; a scrape's socket may linger a moment: wait, bounded.
  auto fds_after = fds();
  for (int i = 0; i < 200 && fds_after != fds_before; ++i) {
    usleep(50'000);
    fds_after = fds();
  }
  EXPECT_EQ(fds_after, fds_before);
  auto rss_after = server_->Memory();
  ASSERT_TRUE(rss_after.ok());
  // The 1 GiB mappings are gone: the RSS is back near where it was.
  EXPECT_LT(rss_after->rss, rss_before->rss + 64 * kMiB)
      << rss_before->rss << " -> " << rss_after->rss;
  // Positive control of the measure: a mapped, touched buffer counts.
  EXPECT_GT(rss_after->peak_rss, rss_before->rss + 512 * kMiB);
}

TEST_F(LaneTest, SessionsAndJobsReadIntoBuffersToo) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const std::string content = RandomBytes(3 * kMiB + 17, 31);
  WriteFileOrDie(server_->RootPath("f.bin"), content);
  auto buf = Buffer(8 * kMiB);
  ASSERT_NE(buf, nullptr);
  // A job: the bytes land; its READ_COMPLETE (in the log) has the CRC.
  v1::Batch job;
  *job.add_ops() = IntoOp(1, "f.bin", *buf, 4 * kMiB);
  auto submitted = client_->Submit(job);
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  auto done = client_->WaitJob(submitted->id(), absl::Milliseconds(50), absl::Seconds(60));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), v1::SUCCEEDED);
  EXPECT_EQ(std::string(buf->data() + 4 * kMiB, content.size()), content);
  // A Session: the same read at offset 0.
  v1::Batch batch;
  batch.set_tag(5);
  *batch.add_ops() = IntoOp(1, "f.bin", *buf, 0);
  CallResult session = RunSession(*server_->NewStub(), {batch});
  uint64_t bytes = 0;
  for (const v1::Event& e : session.events) {
    if (e.type() == v1::READ_COMPLETE) bytes = e.bytes();
  }
  EXPECT_TRUE(session.status.ok()) << session.status.error_message();
  EXPECT_EQ(bytes, content.size());
  EXPECT_EQ(std::string(buf->data(), content.size()), content);
}

TEST_F(LaneTest, WithTheLaneOffBuffersAreRefused) {
  ASSERT_NO_FATAL_FAILURE(Start({"--buffer-socket", ""}));
  EXPECT_FALSE(caps_.buffer_lane());
  EXPECT_FALSE(PathExists(server_->root() + ".sock"));
  v1::Batch batch;
  v1::Op op = ReadOp(1, "f.bin");
  op.mutable_read()->mutable_into()->set_handle(std::string(16, 'x'));
  *batch.add_ops() = op;
  EXPECT_EQ(Run(batch).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

class LaneTokenTest : public LaneTest {};

TEST_F(LaneTokenTest, RegistrationNeedsAValidTokenAndBuffersStayWithTheirToken) {
  const std::string a = "aaaaaaaaaaaaaaaaaaaaaaaa", b = "bbbbbbbbbbbbbbbbbbbbbbbb";
  TempDir dir;
  WriteFileOrDie(dir.Join("tokens"), a + " read,write\n" + b + " read,write\n");
  token_ = a;
  ASSERT_NO_FATAL_FAILURE(Start({"--tokens", dir.Join("tokens")}));
  WriteFileOrDie(server_->RootPath("f.bin"), "hello");
  auto raw = SharedBuffer::Create(4096);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ((*raw)->Register(caps_.buffer_socket()).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ((*raw)->Register(caps_.buffer_socket(), "not-a-token-at-all").code(),
            absl::StatusCode::kUnauthenticated);
  ASSERT_TRUE((*raw)->Register(caps_.buffer_socket(), a).ok());  // positive control

  v1::Batch batch;
  *batch.add_ops() = IntoOp(1, "f.bin", **raw, 0);
  ConnectOptions as_b;
  as_b.token = b;
  auto client_b = Client::Connect(server_->address(), as_b);
  ASSERT_TRUE(client_b.ok());
  absl::Status s = (*client_b)->Execute(batch, [](const v1::Event&) {});
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_EQ(std::string((*raw)->data(), 5), std::string(5, '\0'));
  ASSERT_TRUE(client_->Execute(batch, [](const v1::Event&) {}).ok());
  EXPECT_EQ(std::string((*raw)->data(), 5), "hello");
}

}  // namespace
}  // namespace overlapd::itest
