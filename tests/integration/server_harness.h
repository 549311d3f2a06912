// Harness of the integration tests: real processes on loopback.
//
// ServerProcess starts build/bin/overlapd on 127.0.0.1 port 0 with a fresh
// --root under /tmp, waits (bounded) for its "overlapd ready" line, and
// tells the test its ports, pid and memory; it stops the server with SIGTERM
// and reports the exit status. RunCommand runs a short-lived program (the
// `overlap` CLI) and captures stdout, stderr and the exit code. Everything
// is bounded in time, and every temporary directory is removed at the end.
//
// Example:
//
//   absl::StatusOr<std::unique_ptr<ServerProcess>> server =
//       ServerProcess::Start({"--workers", "3"});
//   ASSERT_TRUE(server.ok()) << server.status();
//   auto stub = (*server)->NewStub();
//   ...
//   CommandResult cli = (*server)->RunCli({"stat", "a.txt"});
//   EXPECT_EQ(cli.exit_code, 0) << cli.err;
//   absl::StatusOr<int> exit_status = (*server)->Stop();
//   EXPECT_EQ(*exit_status, 0);
//
// Children are started with fork + exec and PR_SET_PDEATHSIG(SIGKILL), so a
// test binary that crashes or is killed by ctest's timeout leaves no server
// behind. The death signal follows the *thread* that forked: start processes
// from the test's main thread (gtest runs tests there).
#ifndef OVERLAPD_TESTS_INTEGRATION_SERVER_HARNESS_H_
#define OVERLAPD_TESTS_INTEGRATION_SERVER_HARNESS_H_

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/channel.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "overlapd/v1/overlapd.grpc.pb.h"

namespace overlapd::itest {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Directory holding the overlapd and overlap binaries (set by CMake).
std::string BinDir();

// A directory /tmp/<prefix>XXXXXX, removed with everything in it on
// destruction.
class TempDir {
 public:
  explicit TempDir(absl::string_view prefix = "overlapd-it-");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + relative.
  std::string Join(absl::string_view relative) const;

 private:
  std::string path_;
};

// What a finished command left behind. exit_code is the exit status, or
// 128 + signal number when a signal ended it, or -1 when it ran past its
// time limit (it is then killed).
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv (argv[0] an absolute path) with stdin from /dev/null, and waits
// up to `timeout` for it to end.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         milliseconds timeout = seconds(120));

// A long-running child whose stdout and stderr go, merged, into one buffer
// (the last 1 MiB is kept) that a reader thread fills.
class Subprocess {
 public:
  static absl::StatusOr<std::unique_ptr<Subprocess>> Spawn(
      const std::vector<std::string>& argv);
  // Kills (SIGKILL) a child that still runs, reaps it, joins the reader.
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }

  // Waits until the output contains `needle`. False when the child closed
  // its output (exited) or `timeout` passed first.
  bool WaitForOutput(absl::string_view needle, milliseconds timeout);
  std::string Output() const;

  void Signal(int sig) const;
  // Waits up to `timeout` for the child to exit and returns its exit status
  // (128 + signal when a signal ended it); DEADLINE_EXCEEDED if it still
  // runs. Once it has exited, returns the same status again.
  absl::StatusOr<int> Wait(milliseconds timeout);
  // Whether the child has not exited yet (reaps it if it has).
  bool Running();

 private:
  Subprocess(pid_t pid, int out_fd);
  void ReadLoop();

  const pid_t pid_;
  const int out_fd_;
  bool reaped_ = false;
  int exit_status_ = -1;
  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string output_;  // under mu_
  bool eof_ = false;    // under mu_
  bool stop_ = false;   // under mu_
};

// Memory of a process, from /proc/PID/status, in bytes.
struct ProcMemory {
  uint64_t rss = 0;       // VmRSS: resident now
  uint64_t peak_rss = 0;  // VmHWM: the most resident so far
};
absl::StatusOr<ProcMemory> ReadProcMemory(pid_t pid);

// One overlapd on loopback with its own temporary root.
class ServerProcess {
 public:
  // Starts overlapd --root <temp>/root --listen 127.0.0.1:0
  // --metrics-listen 127.0.0.1:0 plus `extra_flags` (a --listen there
  // replaces the default one), and waits up to 15 s
  // for its ready line. The error carries the server's output. A non-empty
  // `root` serves that directory instead (created by the server if missing,
  // never removed): to restart a server on what another one left.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::vector<std::string>& extra_flags = {},
      const std::string& root = "");
  // Kills a server that still runs; removes the temporary directory.
  ~ServerProcess() = default;

  // The served directory, and a path in it.
  const std::string& root() const { return root_; }
  std::string RootPath(absl::string_view relative) const;
  // A scratch directory beside the root (not served): local files of the
  // CLI tests.
  const std::string& scratch() const { return scratch_; }
  std::string ScratchPath(absl::string_view relative) const;

  // "127.0.0.1:PORT" of the gRPC listener.
  const std::string& address() const { return address_; }
  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  pid_t pid() const { return process_->pid(); }
  absl::StatusOr<ProcMemory> Memory() const { return ReadProcMemory(pid()); }

  // A new channel with its own connection (local subchannel pool), and
  // messages up to 128 MiB both ways.
  std::shared_ptr<grpc::Channel> NewChannel() const;
  std::unique_ptr<v1::IoService::Stub> NewStub() const;

  // Runs the `overlap` CLI with --server <address()> before `args`.
  CommandResult RunCli(const std::vector<std::string>& args,
                       milliseconds timeout = seconds(120)) const;

  void Signal(int sig) const { process_->Signal(sig); }
  // SIGTERM, then waits for the exit status.
  absl::StatusOr<int> Stop(milliseconds timeout = seconds(40));
  absl::StatusOr<int> Wait(milliseconds timeout) { return process_->Wait(timeout); }
  bool WaitForLog(absl::string_view needle, milliseconds timeout) {
    return process_->WaitForOutput(needle, timeout);
  }
  // What the server printed (stdout and stderr merged).
  std::string Log() const { return process_->Output(); }

 private:
  ServerProcess() = default;

  TempDir dir_{"overlapd-it-"};
  std::string root_;
  std::string scratch_;
  std::string address_;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  // Declared after dir_: destroyed (server killed) before the directory goes.
  std::unique_ptr<Subprocess> process_;
};

// A free TCP port on 127.0.0.1 (bound and released; another process could
// take it in between, which is unlikely on a test machine).
absl::StatusOr<int> FreeLoopbackPort();

// A real Prometheus (`binary`) scraping overlapd's metrics on 127.0.0.1:
// `metrics_port` every second (rules evaluated every second too), its
// config and data in `dir`, its API on a free loopback port.
struct Prometheus {
  std::unique_ptr<Subprocess> process;
  int port = 0;
};
absl::StatusOr<Prometheus> StartPrometheus(const std::string& binary, const TempDir& dir,
                                           int metrics_port);

struct HttpResponse {
  int status = 0;
  std::string body;
};
// HTTP/1.0 GET of http://127.0.0.1:<port><path>, over a plain socket.
absl::StatusOr<HttpResponse> HttpGet(int port, absl::string_view path,
                                     milliseconds timeout = seconds(10));

}  // namespace overlapd::itest

#endif  // OVERLAPD_TESTS_INTEGRATION_SERVER_HARNESS_H_
