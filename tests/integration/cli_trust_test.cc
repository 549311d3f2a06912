// Transfers users can trust, with the real `overlap` CLI against a real
// overlapd: a refused request never reports success, Ctrl-C never leaves a
// half-written file where the old one was, an interrupted transfer resumes,
// and a transient outage is retried.
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "clients/cpp/client.h"
#include "tests/integration/server_test.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

constexpr char kReadToken[] = "read-token-0123456789abcdef";
constexpr char kWriteToken[] = "write-token-0123456789abcdef";
constexpr char kTeamToken[] = "team-token-0123456789abcdef";

// Big enough that a put or get is far from done when the first progress
// line appears (one chunk, 4 MiB), on any machine.
constexpr uint64_t kBigFile = 512ull << 20;
constexpr uint64_t kHugeFile = 1ull << 30;  // the Ctrl-C tests

// The JSON objects a command printed on stdout, one per line.
std::vector<nlohmann::json> JsonLines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    lines.push_back(nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false));
  }
  return lines;
}

// A failed command claims nothing: every object it printed is an error.
std::string ClaimIn(const std::string& out) {
  for (const nlohmann::json& object : JsonLines(out)) {
    if (!object.is_object() || !object.contains("error")) return object.dump();
  }
  return "";
}

uint64_t JsonU64(const nlohmann::json& object, const char* key) {
  uint64_t value = 0;
  if (object.contains(key) && object[key].is_string()) {
    EXPECT_TRUE(absl::SimpleAtoi(object[key].get<std::string>(), &value)) << object;
  } else {
    ADD_FAILURE() << key << " is not a string in " << object;
  }
  return value;
}

class CliTrustTest : public ServerTest {
 protected:
  // A server with three tokens (read-only, read-write, read-write under
  // team/), a small op limit so that 1 MiB goes over the chunked path, and
  // a few files to copy from.
  void StartWithTokens() {
    WriteFileOrDie(dir_.Join("tokens"),
                   absl::StrCat(kReadToken, " read\n", kWriteToken, " read,write\n",
                                kTeamToken, " read,write team/\n"));
    for (const char* token : {kReadToken, kWriteToken, kTeamToken}) {
      WriteFileOrDie(TokenFile(token), absl::StrCat(token, "\n"));
    }
    ASSERT_NO_FATAL_FAILURE(
        StartServer({"--tokens", dir_.Join("tokens"), "--max-op-bytes", "65536"}));
    ASSERT_EQ(::mkdir(server_->RootPath("team").c_str(), 0755), 0);
    WriteFileOrDie(server_->RootPath("src.txt"), "source\n");
    WriteFileOrDie(server_->RootPath("team/src.txt"), "team source\n");
    WriteFileOrDie(Local("small"), "small\n");
    ASSERT_NO_FATAL_FAILURE(WriteRandomFile(Local("big"), 1 << 20, 7));
    WriteFileOrDie(Local("batch.json"), "");
  }

  std::string TokenFile(const std::string& token) const { return dir_.Join(token); }
  std::string Local(const std::string& name) const { return server_->ScratchPath(name); }

  // overlap --json --retries 0 --token-file TOKEN ARGS...
  CommandResult Cli(const std::string& token, std::vector<std::string> args) {
    args.insert(args.begin(), {"--json", "--retries", "0", "--token-file", TokenFile(token)});
    return server_->RunCli(args, std::chrono::seconds(60));
  }

  // The write commands of the CLI, each aimed at `path`; `src` is a file the
  // token may read. Each entry: a label and the arguments.
  std::vector<std::pair<std::string, std::vector<std::string>>> WriteCommands(
      const std::string& path, const std::string& src) {
    const std::string batch = Local("batch.json");
    WriteFileOrDie(batch, absl::StrCat(R"({"ops": [{"copy": {"src": ")", src,
                                       R"(", "dst": ")", path, R"("}}]})"));
    return {{"put", {"put", Local("small"), path}},
            {"put chunked", {"put", Local("big"), path}},
            {"put --in-place", {"put", "--in-place", Local("big"), path}},
            {"put --resume", {"put", "--resume", Local("big"), path}},
            {"put -", {"put", "-", path}},
            {"cp", {"cp", src, path}},
            {"mv", {"mv", src, path}},
            {"mkdir", {"mkdir", path}},
            {"mkdir -p", {"mkdir", "-p", path + "/sub"}},
            {"submit --wait", {"submit", "--wait", batch}},
            {"backup --wait", {"backup", "--wait", path}}};
  }

  TempDir dir_{"overlapd-trust-"};
};

struct Refusal {
  const char* kind;
  const char* token;
  std::string path;  // refused for writes (and for reads unless read_ok)
  std::string src;   // a file the token may read
  bool read_ok;
};

std::vector<Refusal> Refusals() {
  return {{"absolute path", kWriteToken, "/abs/target", "src.txt", false},
          {"300-byte name", kWriteToken, std::string(300, 'n'), "src.txt", false},
          {"outside the token's prefix", kTeamToken, "other/target", "team/src.txt", false},
          {"read-only token", kReadToken, "target", "src.txt", true}};
}

TEST_F(CliTrustTest, RefusedWritesExitNonZeroClaimNothingAndChangeNothing) {
  ASSERT_NO_FATAL_FAILURE(StartWithTokens());
  const std::map<std::string, uint64_t> before = TreeSnapshot(server_->root());
  for (const Refusal& refusal : Refusals()) {
    for (const auto& [label, args] : WriteCommands(refusal.path, refusal.src)) {
      SCOPED_TRACE(absl::StrCat(refusal.kind, ": ", label));
      const CommandResult result = Cli(refusal.token, args);
      EXPECT_EQ(result.exit_code, 1) << result.err;
      EXPECT_EQ(ClaimIn(result.out), "") << "claimed in --json";
      EXPECT_NE(result.err.find("overlap: "), std::string::npos) << result.err;
    }
    // rm of a file that exists: refused as a write too (except for the
    // sandbox kinds, whose path does not exist: refused all the same).
    const std::string victim = refusal.read_ok ? refusal.src : refusal.path;
    for (const std::vector<std::string>& rm :
         {std::vector<std::string>{"rm", victim}, {"rm", "-r", victim}}) {
      const CommandResult result = Cli(refusal.token, rm);
      EXPECT_EQ(result.exit_code, 1) << refusal.kind << ": " << result.err;
      EXPECT_EQ(ClaimIn(result.out), "") << refusal.kind;
    }
  }
  // Nothing was written, renamed or deleted, and no temp file is left.
  EXPECT_EQ(TreeSnapshot(server_->root()), before);
}

TEST_F(CliTrustTest, RefusedReadsExitNonZeroAndLeaveNoLocalFile) {
  ASSERT_NO_FATAL_FAILURE(StartWithTokens());
  for (const Refusal& refusal : Refusals()) {
    SCOPED_TRACE(refusal.kind);
    const std::string path = refusal.read_ok ? refusal.src : refusal.path;
    const std::string local = Local("got");
    const CommandResult get = Cli(refusal.token, {"get", path, local});
    if (refusal.read_ok) {
      // The positive control: this token may read, and does.
      EXPECT_EQ(get.exit_code, 0) << get.err;
      EXPECT_EQ(ReadFileOrDie(local), "source\n");
      ASSERT_EQ(::unlink(local.c_str()), 0);
      continue;
    }
    EXPECT_EQ(get.exit_code, 1) << get.err;
    EXPECT_EQ(ClaimIn(get.out), "");
    EXPECT_FALSE(PathExists(local));
    EXPECT_FALSE(PathExists(local + ".partial"));
    for (const char* command : {"cat", "stat", "ls", "du"}) {
      const CommandResult read = Cli(refusal.token, {command, path});
      EXPECT_EQ(read.exit_code, 1) << command << ": " << read.err;
      EXPECT_EQ(ClaimIn(read.out), "") << command;
    }
  }
}

// The positive control of the refusals: the same commands on a good path
// succeed, and say so.
TEST_F(CliTrustTest, TheSameCommandsSucceedOnAGoodPath) {
  ASSERT_NO_FATAL_FAILURE(StartWithTokens());
  const size_t count = WriteCommands("x", "x").size();
  for (size_t i = 0; i < count; ++i) {
    const std::string target = absl::StrCat("team/ok", i);
    auto [label, args] = WriteCommands(target, "team/src.txt")[i];
    SCOPED_TRACE(label);
    if (label == "backup --wait") WriteFileOrDie(server_->RootPath(target), "x");
    const CommandResult result = Cli(kTeamToken, args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_NE(ClaimIn(result.out), "") << "no success reported: " << result.out;
    // mv took the source away: put it back for the commands after it.
    if (!PathExists(server_->RootPath("team/src.txt"))) {
      WriteFileOrDie(server_->RootPath("team/src.txt"), "team source\n");
    }
  }
  EXPECT_EQ(CompareFiles(Local("big"), server_->RootPath("team/ok1")), "");
  EXPECT_EQ(CompareFiles(Local("big"), server_->RootPath("team/ok2")), "");
  EXPECT_EQ(CompareFiles(Local("big"), server_->RootPath("team/ok3")), "");
  EXPECT_EQ(ReadFileOrDie(server_->RootPath("team/ok4")), "");  // put - from /dev/null
  EXPECT_EQ(ReadFileOrDie(server_->RootPath("team/ok6")), "team source\n");  // mv
}

// The library under the CLI: every whole-file call fails on a refused batch,
// whichever way the server says it (the call's status for Execute, a
// BATCH_COMPLETE carrying the error on a Session, OP_FAILED for an op).
TEST_F(CliTrustTest, LibraryCallsFailOnEveryRefusal) {
  ASSERT_NO_FATAL_FAILURE(StartWithTokens());
  const std::map<std::string, uint64_t> before = TreeSnapshot(server_->root());
  for (const Refusal& refusal : Refusals()) {
    SCOPED_TRACE(refusal.kind);
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Connect(server_->address(), {.token = refusal.token});
    ASSERT_TRUE(client.ok()) << client.status();
    Client& c = **client;
    for (bool in_place : {false, true}) {
      for (const char* local : {"small", "big"}) {
        const absl::StatusOr<TransferResult> put =
            c.PutFile(Local(local), refusal.path, {.in_place = in_place});
        EXPECT_FALSE(put.ok()) << local << " in_place=" << in_place;
      }
    }
    EXPECT_FALSE(c.Copy(refusal.src, refusal.path).ok());
    EXPECT_FALSE(c.Rename(refusal.src, refusal.path).ok());
    EXPECT_FALSE(c.Mkdir(refusal.path, /*parents=*/true).ok());
    EXPECT_FALSE(c.Delete(refusal.read_ok ? refusal.src : refusal.path).ok());
    const absl::StatusOr<TransferResult> get =
        c.GetFile(refusal.read_ok ? refusal.src : refusal.path, Local("got"));
    EXPECT_EQ(get.ok(), refusal.read_ok) << get.status();
  }
  EXPECT_EQ(TreeSnapshot(server_->root()), before);
}

// Starts `overlap --progress ARGS`, waits until it has reported progress
// (the first chunk is through) and `ready()` holds, and interrupts it
// (SIGINT), i.e. in the middle of the transfer. Returns its exit status; 0
// would mean it finished first and nothing was tested.
int InterruptMidway(const ServerProcess& server, const std::vector<std::string>& args,
                    const std::string& progress_label, std::string* output,
                    const std::function<bool()>& ready = [] { return true; }) {
  std::vector<std::string> argv = {BinDir() + "/overlap", "--server", server.address(),
                                   "--progress"};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<std::unique_ptr<Subprocess>> cli = Subprocess::Spawn(argv);
  EXPECT_TRUE(cli.ok()) << cli.status();
  if (!cli.ok()) return -1;
  EXPECT_TRUE((*cli)->WaitForOutput(progress_label + ": ", std::chrono::seconds(60)))
      << (*cli)->Output();
  // Polled on what is on disk, bounded: the transfer runs meanwhile.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!ready() && (*cli)->Running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  (*cli)->Signal(SIGINT);
  absl::StatusOr<int> status = (*cli)->Wait(std::chrono::seconds(60));
  *output = (*cli)->Output();
  EXPECT_TRUE(status.ok()) << status.status();
  return status.ok() ? *status : -1;
}

// Bytes of `path` on disk (st_blocks): the chunks written so far, not the
// size that one chunk written far out already gives a file.
uint64_t AllocatedBytes(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_blocks) * 512 : 0;
}

// Whether some hidden file in `dir` (a put's temp file) holds `bytes`.
bool HiddenFileHolds(const std::string& dir, uint64_t bytes) {
  for (const std::string& name : ListDir(dir)) {
    if (absl::StartsWith(name, ".") && AllocatedBytes(dir + "/" + name) >= bytes) return true;
  }
  return false;
}

// Interrupted once this much is through, so that there is something to
// resume: at most 64 MiB (the server's read credit, or 8 chunks of a put)
// are in flight, so at least 64 MiB of whole ranges are complete.
constexpr uint64_t kResumeFrom = 128ull << 20;

// A point of a 1 GiB transfer at random (seeded by OVERLAPD_FUZZ_SEED when
// set, and printed): somewhere in its first three quarters.
uint64_t RandomInterruptPoint() {
  uint64_t seed = std::random_device{}();
  if (const char* env = std::getenv("OVERLAPD_FUZZ_SEED")) seed = std::strtoull(env, nullptr, 10);
  std::mt19937_64 rng(seed);
  const uint64_t point = rng() % (kHugeFile / 4 * 3);
  std::cout << "interrupting after " << (point >> 20) << " MiB (seed " << seed << ")\n";
  return point;
}

TEST_F(CliTrustTest, CtrlCDuringPutLeavesTheOldRemoteFileAndNoTemp) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  WriteFileOrDie(server_->RootPath("target.bin"), "hello\n");
  const std::string local = server_->ScratchPath("big");
  ASSERT_NO_FATAL_FAILURE(WriteRandomFile(local, kHugeFile, 11));
  const uint64_t point = RandomInterruptPoint();
  std::string output;
  const int exit_code = InterruptMidway(
      *server_, {"put", local, "target.bin"}, "put target.bin", &output,
      [&] { return HiddenFileHolds(server_->root(), point); });
  ASSERT_EQ(exit_code, 130) << "the put was not interrupted midway; nothing tested\n"
                            << output;
  EXPECT_NE(output.find("target.bin is unchanged"), std::string::npos) << output;
  EXPECT_EQ(ReadFileOrDie(server_->RootPath("target.bin")), "hello\n");
  EXPECT_EQ(ListDir(server_->root()), std::vector<std::string>{"target.bin"})
      << "the temp file is left behind";
  EXPECT_FALSE(PathExists(local + ".overlap-resume"));
}

// SIGTERM of the server while a 1 GiB put streams: the drain lets the
// upload go on (its stream keeps sending batches, and the rename goes on
// the same stream), the put ends 0 and the target is the whole file.
TEST_F(CliTrustTest, SigtermOfTheServerDuringAPutLetsItFinish) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--drain-seconds", "120"}));
  const std::string local = server_->ScratchPath("big");
  ASSERT_NO_FATAL_FAILURE(WriteRandomFile(local, 1ull << 30, 23));
  std::vector<std::string> argv = {BinDir() + "/overlap", "--server", server_->address(),
                                   "--progress", "put", local, "target.bin"};
  absl::StatusOr<std::unique_ptr<Subprocess>> cli = Subprocess::Spawn(argv);
  ASSERT_TRUE(cli.ok()) << cli.status();
  ASSERT_TRUE((*cli)->WaitForOutput("put target.bin: ", std::chrono::seconds(60)))
      << (*cli)->Output();
  // Some of it is through, most is not.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!HiddenFileHolds(server_->root(), 64ull << 20) && (*cli)->Running() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // polling the temp's size
  }
  const bool midway = (*cli)->Running() && !PathExists(server_->RootPath("target.bin"));
  server_->Signal(SIGTERM);
  absl::StatusOr<int> status = (*cli)->Wait(std::chrono::seconds(120));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, 0) << (*cli)->Output();
  absl::StatusOr<int> server_exit = server_->Wait(std::chrono::seconds(120));
  ASSERT_TRUE(server_exit.ok()) << server_exit.status();
  EXPECT_EQ(*server_exit, 0);
  EXPECT_EQ(CompareFiles(local, server_->RootPath("target.bin")), "");
  EXPECT_TRUE(midway) << "the put ended before the SIGTERM: nothing was tested";
}

TEST_F(CliTrustTest, InterruptedPutResumesSendingOnlyWhatIsMissing) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  WriteFileOrDie(server_->RootPath("target.bin"), "hello\n");
  const std::string local = server_->ScratchPath("big");
  ASSERT_NO_FATAL_FAILURE(WriteRandomFile(local, kBigFile, 12));
  std::string output;
  // Interrupted once a good part is on the server, so there is something
  // to resume.
  ASSERT_EQ(InterruptMidway(*server_, {"put", "--resume", local, "target.bin"},
                            "put target.bin", &output,
                            [&] { return HiddenFileHolds(server_->root(), kResumeFrom); }),
            130)
      << output;
  EXPECT_EQ(ReadFileOrDie(server_->RootPath("target.bin")), "hello\n");
  ASSERT_TRUE(PathExists(local + ".overlap-resume"));
  // The temp file stays for the resume; spoil its first byte, which was
  // acknowledged (progress is only reported for acknowledged chunks): the
  // resume must find it by CRC32C and send that chunk again.
  std::vector<std::string> names = ListDir(server_->root());
  ASSERT_EQ(names.size(), 2u) << testing::PrintToString(names);
  const std::string temp = server_->RootPath(names[0] == "target.bin" ? names[1] : names[0]);
  {
    std::fstream f(temp, std::ios::in | std::ios::out | std::ios::binary);
    char c = 0;
    f.read(&c, 1);
    f.seekp(0);
    c = static_cast<char>(c ^ 0x5a);
    f.write(&c, 1);
  }

  const CommandResult resumed = server_->RunCli({"--json", "put", "--resume", local,
                                                 "target.bin"},
                                                std::chrono::seconds(180));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const std::vector<nlohmann::json> lines = JsonLines(resumed.out);
  ASSERT_EQ(lines.size(), 1u) << resumed.out;
  const uint64_t reused = JsonU64(lines[0], "reused");
  const uint64_t sent = JsonU64(lines[0], "sent");
  EXPECT_GT(reused, 0u) << "nothing of the first run was used";
  EXPECT_EQ(reused + sent, kBigFile);
  RecordProperty("resume_reused_bytes", std::to_string(reused));
  EXPECT_EQ(CompareFiles(local, server_->RootPath("target.bin")), "");
  EXPECT_EQ(ListDir(server_->root()), std::vector<std::string>{"target.bin"});
  EXPECT_FALSE(PathExists(local + ".overlap-resume"));
}

TEST_F(CliTrustTest, CtrlCDuringGetLeavesTheOldLocalFile) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_NO_FATAL_FAILURE(WriteRandomFile(server_->RootPath("big.bin"), kHugeFile, 13));
  const std::string local = server_->ScratchPath("out");
  WriteFileOrDie(local, "old content\n");
  const uint64_t point = RandomInterruptPoint();
  std::string output;
  ASSERT_EQ(InterruptMidway(*server_, {"get", "big.bin", local}, "get big.bin", &output,
                            [&] { return AllocatedBytes(local + ".partial") >= point; }),
            130)
      << "the get was not interrupted midway; nothing tested\n"
      << output;
  EXPECT_EQ(ReadFileOrDie(local), "old content\n");
  EXPECT_EQ(ListDir(server_->scratch()), std::vector<std::string>{"out"});
  EXPECT_EQ(ListDir(server_->root()), std::vector<std::string>{"big.bin"});
}

// Over gRPC data and over the buffer lane: ranges complete in turn (the read
// credit; the lane's 32 MiB window), so an interrupt at a quarter of the
// bytes leaves whole ranges for the resume to reuse.
TEST_F(CliTrustTest, InterruptedGetResumesFetchingOnlyWhatIsMissing) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const std::string remote = server_->RootPath("big.bin");
  ASSERT_NO_FATAL_FAILURE(WriteRandomFile(remote, kBigFile, 14));
  for (const char* data_path : {"--no-lane", "--lane"}) {
    SCOPED_TRACE(data_path);
    const std::string local = server_->ScratchPath("out");
    WriteFileOrDie(local, "old content\n");
    std::string output;
    ASSERT_EQ(InterruptMidway(*server_, {data_path, "get", "--resume", "big.bin", local},
                              "get big.bin", &output,
                              [&] { return AllocatedBytes(local + ".partial") >= kResumeFrom; }),
              130)
        << output;
    EXPECT_EQ(ReadFileOrDie(local), "old content\n");
    ASSERT_TRUE(PathExists(local + ".partial"));
    ASSERT_TRUE(PathExists(local + ".overlap-resume"));

    const CommandResult resumed = server_->RunCli(
        {data_path, "--json", "get", "--resume", "big.bin", local}, std::chrono::seconds(180));
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    const std::vector<nlohmann::json> lines = JsonLines(resumed.out);
    ASSERT_EQ(lines.size(), 1u) << resumed.out;
    EXPECT_GT(JsonU64(lines[0], "reused"), 0u);
    EXPECT_EQ(JsonU64(lines[0], "reused") + JsonU64(lines[0], "sent"), kBigFile);
    EXPECT_EQ(CompareFiles(remote, local), "");
    EXPECT_EQ(ListDir(server_->scratch()), std::vector<std::string>{"out"});
  }
}

TEST_F(CliTrustTest, PutRetriesAcrossAServerRestart) {
  absl::StatusOr<int> port = FreeLoopbackPort();
  ASSERT_TRUE(port.ok()) << port.status();
  const std::string listen = absl::StrCat("127.0.0.1:", *port);
  ASSERT_NO_FATAL_FAILURE(StartServer({"--listen", listen}));
  const std::string local = server_->ScratchPath("big");
  ASSERT_NO_FATAL_FAILURE(WriteRandomFile(local, kBigFile, 15));
  absl::StatusOr<std::unique_ptr<Subprocess>> cli = Subprocess::Spawn(
      {BinDir() + "/overlap", "--server", listen, "--progress", "--retries", "20", "--json",
       "put", local, "big.bin"});
  ASSERT_TRUE(cli.ok()) << cli.status();
  ASSERT_TRUE((*cli)->WaitForOutput("put big.bin: ", std::chrono::seconds(60)))
      << (*cli)->Output();
  // The server dies mid-upload and comes back on the same port and root.
  server_->Signal(SIGKILL);
  ASSERT_TRUE(server_->Wait(std::chrono::seconds(30)).ok());
  absl::StatusOr<std::unique_ptr<ServerProcess>> second =
      ServerProcess::Start({"--listen", listen}, server_->root());
  ASSERT_TRUE(second.ok()) << second.status();

  absl::StatusOr<int> status = (*cli)->Wait(std::chrono::seconds(240));
  ASSERT_TRUE(status.ok()) << status.status();
  const std::string output = (*cli)->Output();
  EXPECT_EQ(*status, 0) << output;
  EXPECT_NE(output.find("; retry 1 in "), std::string::npos)
      << "no retry happened; nothing tested\n" << output;
  EXPECT_EQ(CompareFiles(local, server_->RootPath("big.bin")), "");
  EXPECT_EQ(ListDir(server_->root()), std::vector<std::string>{"big.bin"});
}

TEST_F(CliTrustTest, CommandsWaitForAServerThatIsStarting) {
  absl::StatusOr<int> port = FreeLoopbackPort();
  ASSERT_TRUE(port.ok()) << port.status();
  const std::string listen = absl::StrCat("127.0.0.1:", *port);
  TempDir scratch;
  WriteFileOrDie(scratch.Join("f"), "early\n");
  // Negative control: without retries, no server is an error at once.
  CommandResult alone = RunCommand(
      {BinDir() + "/overlap", "--server", listen, "--retries", "0", "put", scratch.Join("f"),
       "f"},
      std::chrono::seconds(60));
  EXPECT_EQ(alone.exit_code, 1);
  EXPECT_NE(alone.err.find("UNAVAILABLE"), std::string::npos) << alone.err;

  absl::StatusOr<std::unique_ptr<Subprocess>> cli =
      Subprocess::Spawn({BinDir() + "/overlap", "--server", listen, "--retries", "20",
                         "put", scratch.Join("f"), "f"});
  ASSERT_TRUE(cli.ok()) << cli.status();
  ASSERT_TRUE((*cli)->WaitForOutput("; retry 1 in ", std::chrono::seconds(60)))
      << (*cli)->Output();
  ASSERT_NO_FATAL_FAILURE(StartServer({"--listen", listen}));
  absl::StatusOr<int> status = (*cli)->Wait(std::chrono::seconds(120));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, 0) << (*cli)->Output();
  EXPECT_EQ(ReadFileOrDie(server_->RootPath("f")), "early\n");
}

}  // namespace
}  // namespace overlapd::itest
