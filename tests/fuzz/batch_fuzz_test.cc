// Randomised batches against a real overlapd (seeded, bounded in count and
// time): malformed paths, escapes, out-of-range offsets and enums, bad CRCs,
// broken link chains, raw bytes that are not a Batch at all. Whatever comes
// in, every call must end with a status a client can act on, every op of an
// accepted batch must get exactly one terminal event, a Session must go on
// after a refused batch, nothing outside --root may change, and the server
// must stay up and drain cleanly. The seed is printed; OVERLAPD_FUZZ_SEED
// replays a run.
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/integration/server_test.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

using std::chrono::seconds;
using std::chrono::steady_clock;

constexpr int kExecuteBatches = 3000;
constexpr int kSessionBatches = 1000;
constexpr int kGarbageCalls = 1000;
constexpr auto kTimeBudget = seconds(90);

// Codes a refused or finished call may end with. A client can act on each;
// UNKNOWN, INTERNAL (for a request that parsed), UNAVAILABLE and friends
// would mean the server broke.
const std::set<grpc::StatusCode> kCallCodes = {
    grpc::StatusCode::OK, grpc::StatusCode::INVALID_ARGUMENT,
    grpc::StatusCode::PERMISSION_DENIED, grpc::StatusCode::RESOURCE_EXHAUSTED,
    grpc::StatusCode::OUT_OF_RANGE, grpc::StatusCode::FAILED_PRECONDITION};

uint64_t Seed() {
  const char* env = getenv("OVERLAPD_FUZZ_SEED");
  if (env != nullptr && *env != '\0') return strtoull(env, nullptr, 10);
  return std::random_device{}();
}

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  v1::Batch Batch(uint64_t tag) {
    v1::Batch batch;
    batch.set_tag(tag);
    const int n = Pick(8) == 0 ? 0 : 1 + Pick(10);
    for (int i = 0; i < n; ++i) *batch.add_ops() = Op(static_cast<uint64_t>(i));
    return batch;
  }

  // Bytes that may or may not parse as a Batch.
  std::string Garbage() {
    std::string s(Pick(200), '\0');
    for (char& c : s) c = static_cast<char>(Pick(256));
    if (Pick(2) == 0) {
      // A valid batch with a few bytes flipped: parses more often.
      std::string valid = Batch(1).SerializeAsString();
      for (int i = 0; i < 3 && !valid.empty(); ++i) {
        valid[Pick(valid.size())] = static_cast<char>(Pick(256));
      }
      return valid;
    }
    return s;
  }

 private:
  size_t Pick(size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

  std::string Path() {
    static const std::vector<std::string> kPaths = {
        "a", "a/b", "f1", "f2", "dir", "dir/", "dir/x", "d/d/d/d/e", "./c", "a//b",
        "", ".", "..", "../x", "a/../../x", "/etc/passwd", "link-out", "link-out/secret.txt",
        std::string("nul\0byte", 8), std::string(300, 'n'), "sub/" + std::string(5000, 'p'),
        "spaces in name", "f1/not-a-dir", "caf\xc3\xa9"};
    // (Paths are proto3 strings: bytes that are not UTF-8 make the message
    // unparsable, which the garbage calls below cover.)
    return kPaths[Pick(kPaths.size())];
  }

  uint64_t Number() {
    static const uint64_t kNumbers[] = {0, 1, 7, 4096, 65537, 1u << 20, 1ull << 40,
                                        (1ull << 63) - 1, UINT64_MAX};
    return kNumbers[Pick(std::size(kNumbers))];
  }

  v1::Op Op(uint64_t tag) {
    v1::Op op;
    op.set_tag(tag);
    op.set_link_next(Pick(5) == 0);
    switch (Pick(10)) {
      case 0: {
        v1::Read* r = op.mutable_read();
        r->set_path(Path());
        if (Pick(2)) r->set_offset(Number());
        if (Pick(2)) r->set_length(Number());
        break;
      }
      case 1: {
        v1::Write* w = op.mutable_write();
        w->set_path(Path());
        w->set_data(std::string(Pick(3) == 0 ? 0 : Pick(9000), 'w'));
        // Small offsets only: a write at 2^40 would make a sparse 1 TiB file
        // that a later read to EOF streams for hours (correctly).
        if (Pick(3) == 0) w->set_offset(Pick(70000));
        w->set_mode(static_cast<v1::WriteMode>(Pick(8)));        // includes unknown values
        w->set_durability(static_cast<v1::Durability>(Pick(5)));  // likewise
        if (Pick(3) == 0) w->set_expected_crc32c(static_cast<uint32_t>(Pick(1u << 31)));
        break;
      }
      case 2:
        op.mutable_copy()->set_src(Path());
        op.mutable_copy()->set_dst(Path());
        op.mutable_copy()->set_durability(static_cast<v1::Durability>(Pick(5)));
        break;
      case 3:
        op.mutable_fsync()->set_path(Path());
        op.mutable_fsync()->set_data_only(Pick(2));
        break;
      case 4: op.mutable_stat()->set_path(Path()); break;
      case 5:
        op.mutable_list()->set_path(Path());
        op.mutable_list()->set_start_after(Path());
        op.mutable_list()->set_limit(static_cast<uint32_t>(Number()));
        break;
      case 6:
        op.mutable_rename()->set_src(Path());
        op.mutable_rename()->set_dst(Path());
        op.mutable_rename()->set_no_replace(Pick(2));
        break;
      case 7:
        op.mutable_delete_()->set_path(Path());
        op.mutable_delete_()->set_directory(Pick(2));
        break;
      case 8:
        op.mutable_mkdir()->set_path(Path());
        op.mutable_mkdir()->set_parents(Pick(2));
        break;
      default: break;  // no kind at all
    }
    return op;
  }

  std::mt19937_64 rng_;
};

// Names and contents of every file under `dir`, recursively.
std::string Snapshot(const std::string& dir) {
  std::string out;
  for (const std::string& name : ListDir(dir)) {
    const std::string path = dir + "/" + name;
    out += name + "\n";
    struct stat st;
    if (lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) out += ReadFileOrDie(path);
  }
  return out;
}

// Checks an accepted batch's events: one terminal event per op, one
// BATCH_COMPLETE, failures with a code and a message. Returns problems.
std::vector<std::string> CheckEvents(const v1::Batch& batch,
                                     const std::vector<v1::Event>& events) {
  std::vector<std::string> problems;
  int batch_completes = 0;
  for (const v1::Event& e : events) {
    if (e.type() == v1::BATCH_COMPLETE) ++batch_completes;
    if (e.type() == v1::OP_FAILED && (e.error().code() == 0 || e.error().message().empty())) {
      problems.push_back("OP_FAILED without code or message: " + Describe(e));
    }
  }
  if (batch_completes != 1) problems.push_back(absl::StrCat(batch_completes, " BATCH_COMPLETEs"));
  std::map<uint64_t, OpOutcome> ops = GroupByTag(events);
  for (int i = 0; i < batch.ops_size(); ++i) {
    const OpOutcome& op = ops[static_cast<uint64_t>(i)];
    if (op.terminal_events != 1) {
      problems.push_back(absl::StrCat("ops[", i, "]: ", op.terminal_events, " terminal events"));
    }
    for (const std::string& p : op.problems) problems.push_back(absl::StrCat("ops[", i, "]: ", p));
  }
  return problems;
}

class BatchFuzzTest : public ServerTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartServer({"--max-ops-per-batch", "8", "--max-op-bytes", "8192"}));
    WriteFileOrDie(outside_.Join("secret.txt"), "outside the root");
    ASSERT_EQ(symlink(outside_.path().c_str(), server_->RootPath("link-out").c_str()), 0);
    WriteFileOrDie(server_->RootPath("f1"), "file one");
    WriteFileOrDie(server_->RootPath("f2"), std::string(100000, 'x'));
  }

  TempDir outside_{"overlapd-fuzz-out-"};
};

TEST_F(BatchFuzzTest, RandomBatchesGetClearAnswersAndLoseNothing) {
  const uint64_t seed = Seed();
  std::cout << "OVERLAPD_FUZZ_SEED=" << seed << "\n";
  SCOPED_TRACE(absl::StrCat("OVERLAPD_FUZZ_SEED=", seed));
  Generator gen(seed);
  const std::string outside_before = Snapshot(outside_.path());
  const std::string parent = server_->root() + "/..";
  const std::vector<std::string> parent_before = ListDir(parent);
  const auto deadline = steady_clock::now() + kTimeBudget;
  auto stub = server_->NewStub();

  // Execute: one call per batch.
  int accepted = 0;
  for (int i = 0; i < kExecuteBatches && steady_clock::now() < deadline; ++i) {
    v1::Batch batch = gen.Batch(static_cast<uint64_t>(i));
    CallResult r = RunExecute(*stub, batch, std::chrono::seconds(30));
    ASSERT_TRUE(kCallCodes.count(r.status.error_code()))
        << "batch " << i << ": " << r.status.error_code() << " " << r.status.error_message()
        << "\n" << batch.DebugString();
    if (!r.status.ok()) {
      EXPECT_FALSE(r.status.error_message().empty()) << batch.DebugString();
      EXPECT_TRUE(r.events.empty()) << "a refused batch ran ops: " << batch.DebugString();
      continue;
    }
    ++accepted;
    std::vector<std::string> problems = CheckEvents(batch, r.events);
    EXPECT_TRUE(problems.empty()) << "batch " << i << ": " << problems.front() << "\n"
                                  << batch.DebugString();
  }
  std::cout << accepted << " of the Execute batches were accepted and run\n";
  EXPECT_GT(accepted, kExecuteBatches / 10) << "the generator should produce runnable batches";

  // One Session through many batches: refused ones are answered and it goes on.
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(60));
    auto stream = stub->Session(&context);
    int sent = 0;
    for (; sent < kSessionBatches && steady_clock::now() < deadline; ++sent) {
      if (!stream->Write(gen.Batch(static_cast<uint64_t>(sent)))) break;
    }
    stream->WritesDone();
    std::set<uint64_t> completed;
    v1::EventBatch events;
    while (stream->Read(&events)) {
      for (const v1::Event& e : events.events()) {
        if (e.type() == v1::BATCH_COMPLETE) completed.insert(e.tag());
      }
    }
    grpc::Status status = stream->Finish();
    EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
    EXPECT_EQ(completed.size(), static_cast<size_t>(sent)) << "every batch gets a BATCH_COMPLETE";
  }

  // Bytes that are not a Batch, through the generic stub.
  grpc::GenericStub generic(server_->NewChannel());
  for (int i = 0; i < kGarbageCalls && steady_clock::now() < deadline; ++i) {
    std::string bytes = gen.Garbage();
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1), response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + seconds(30));
    std::promise<grpc::Status> done;
    generic.UnaryCall(&context, "/overlapd.v1.IoService/Submit", grpc::StubOptions(), &request,
                      &response, [&](grpc::Status s) { done.set_value(std::move(s)); });
    grpc::Status s = done.get_future().get();
    // A request that does not parse never reaches the service: gRPC itself
    // answers it (INTERNAL, or UNIMPLEMENTED for a streaming method).
    EXPECT_TRUE(kCallCodes.count(s.error_code()) || s.error_code() == grpc::StatusCode::INTERNAL ||
                s.error_code() == grpc::StatusCode::UNIMPLEMENTED)
        << s.error_code() << " " << s.error_message();
  }

  // Still serving, nothing outside the root touched, and a clean drain.
  v1::Capabilities caps;
  grpc::ClientContext caps_context;
  EXPECT_TRUE(stub->GetCapabilities(&caps_context, v1::GetCapabilitiesRequest(), &caps).ok());
  EXPECT_EQ(Snapshot(outside_.path()), outside_before) << "a file outside --root changed";
  EXPECT_EQ(ListDir(parent), parent_before) << "something appeared beside --root";
  absl::StatusOr<int> exit = server_->Stop();
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(*exit, 0) << "the server did not drain cleanly";
}

}  // namespace
}  // namespace overlapd::itest
