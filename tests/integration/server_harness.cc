#include "tests/integration/server_harness.h"
#include "tests/integration/test_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

#ifndef OVERLAPD_BIN_DIR
#error "OVERLAPD_BIN_DIR must be defined by CMake"
#endif

namespace overlapd::itest {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxKeptOutput = 1 << 20;

absl::Status ErrnoStatus(absl::string_view what) {
  return absl::ErrnoToStatus(errno, what);
}

// Decodes a waitpid status: the exit code, or 128 + the signal.
int ExitStatusOf(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return -1;
}

// fork + exec with stdin from /dev/null and stdout/stderr on the given fds.
// Between fork and exec the child only makes async-signal-safe calls: the
// parent is multi-threaded (gRPC).
absl::StatusOr<pid_t> ForkExec(const std::vector<std::string>& argv,
                               int out_fd, int err_fd) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) return ErrnoStatus("open /dev/null");
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Die with the test: no server outlives a crashed or timed-out test.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(devnull, STDIN_FILENO);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    struct sigaction dfl;
    std::memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGCHLD}) ::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(devnull);
  if (pid < 0) {
    errno = fork_errno;
    return ErrnoStatus("fork");
  }
  return pid;
}

}  // namespace

std::string BinDir() { return OVERLAPD_BIN_DIR; }

// ---------------------------------------------------------------------------
// TempDir
// ---------------------------------------------------------------------------

TempDir::TempDir(absl::string_view prefix) {
  std::string templ = absl::StrCat("/tmp/", prefix, "XXXXXX");
  if (::mkdtemp(templ.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();  // nothing sensible can run without it
  }
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Join(absl::string_view relative) const {
  return absl::StrCat(path_, "/", relative);
}

// ---------------------------------------------------------------------------
// RunCommand
// ---------------------------------------------------------------------------

CommandResult RunCommand(const std::vector<std::string>& argv,
                         milliseconds timeout) {
  CommandResult result;
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    result.err = "pipe2 failed";
    return result;
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    result.err = "pipe2 failed";
    return result;
  }
  absl::StatusOr<pid_t> pid = ForkExec(argv, out_pipe[1], err_pipe[1]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (!pid.ok()) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    result.err = pid.status().ToString();
    return result;
  }
  const Clock::time_point deadline = Clock::now() + timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  bool timed_out = false;
  char buf[65536];
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    const int n = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t got = ::read(fds[i].fd, buf, sizeof(buf));
      if (got > 0) {
        sinks[i]->append(buf, static_cast<size_t>(got));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (pollfd& p : fds) {
    if (p.fd >= 0) ::close(p.fd);
  }
  if (timed_out) ::kill(*pid, SIGKILL);
  // The pipes are closed: the child has exited, or exits now (EPIPE/kill);
  // its exit is still bounded, by the remaining time plus a grace period.
  const Clock::time_point reap_deadline =
      std::max(deadline, Clock::now()) + seconds(5);
  int wstatus = 0;
  for (;;) {
    const pid_t r = ::waitpid(*pid, &wstatus, WNOHANG);
    if (r == *pid) break;
    if (r < 0 && errno != EINTR) return result;
    if (Clock::now() > reap_deadline) {
      ::kill(*pid, SIGKILL);
      ::waitpid(*pid, &wstatus, 0);
      timed_out = true;
      break;
    }
    std::this_thread::sleep_for(milliseconds(2));
  }
  result.exit_code = timed_out ? -1 : ExitStatusOf(wstatus);
  return result;
}

// ---------------------------------------------------------------------------
// Subprocess
// ---------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Spawn(
    const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe2");
  absl::StatusOr<pid_t> pid = ForkExec(argv, pipe_fds[1], pipe_fds[1]);
  ::close(pipe_fds[1]);
  if (!pid.ok()) {
    ::close(pipe_fds[0]);
    return pid.status();
  }
  return std::unique_ptr<Subprocess>(new Subprocess(*pid, pipe_fds[0]));
}

Subprocess::Subprocess(pid_t pid, int out_fd) : pid_(pid), out_fd_(out_fd) {
  reader_ = std::thread([this] { ReadLoop(); });
}

Subprocess::~Subprocess() {
  if (Running()) {
    ::kill(pid_, SIGKILL);
    int wstatus = 0;
    ::waitpid(pid_, &wstatus, 0);
    reaped_ = true;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;  // a grandchild could hold the pipe open: do not wait on EOF
  }
  reader_.join();
  ::close(out_fd_);
}

void Subprocess::ReadLoop() {
  char buf[16384];
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) break;
    }
    pollfd p = {out_fd_, POLLIN, 0};
    const int n = ::poll(&p, 1, 100);
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    const ssize_t got = ::read(out_fd_, buf, sizeof(buf));
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    std::lock_guard<std::mutex> lock(mu_);
    if (got <= 0) break;
    output_.append(buf, static_cast<size_t>(got));
    if (output_.size() > 2 * kMaxKeptOutput) {
      output_.erase(0, output_.size() - kMaxKeptOutput);
    }
    cv_.notify_all();
  }
  std::lock_guard<std::mutex> lock(mu_);
  eof_ = true;
  cv_.notify_all();
}

bool Subprocess::WaitForOutput(absl::string_view needle, milliseconds timeout) {
  const std::string wanted(needle);
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
           return output_.find(wanted) != std::string::npos || eof_;
         }) &&
         output_.find(wanted) != std::string::npos;
}

std::string Subprocess::Output() const {
  std::lock_guard<std::mutex> lock(mu_);
  return output_;
}

void Subprocess::Signal(int sig) const {
  if (!reaped_) ::kill(pid_, sig);
}

absl::StatusOr<int> Subprocess::Wait(milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (!reaped_) {
    int wstatus = 0;
    const pid_t r = ::waitpid(pid_, &wstatus, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      exit_status_ = ExitStatusOf(wstatus);
      break;
    }
    if (r < 0 && errno != EINTR) return ErrnoStatus("waitpid");
    if (Clock::now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "pid ", pid_, " still running after ", timeout.count(), " ms"));
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  return exit_status_;
}

bool Subprocess::Running() {
  return !Wait(milliseconds(0)).ok() && !reaped_;
}

// ---------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------

absl::StatusOr<ProcMemory> ReadProcMemory(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  if (!in) return absl::NotFoundError(absl::StrCat("/proc/", pid, "/status"));
  ProcMemory mem;
  bool have_rss = false, have_hwm = false;
  std::string line;
  while (std::getline(in, line)) {
    // "VmRSS:\t   12345 kB"
    uint64_t* field = nullptr;
    if (line.rfind("VmRSS:", 0) == 0) {
      field = &mem.rss;
      have_rss = true;
    } else if (line.rfind("VmHWM:", 0) == 0) {
      field = &mem.peak_rss;
      have_hwm = true;
    } else {
      continue;
    }
    const std::string rest = line.substr(6);
    std::vector<absl::string_view> parts =
        absl::StrSplit(rest, ' ', absl::SkipWhitespace());
    uint64_t kib = 0;
    if (parts.empty() || !absl::SimpleAtoi(parts[0], &kib)) {
      return absl::InternalError("cannot parse: " + line);
    }
    *field = kib * 1024;
  }
  if (!have_rss || !have_hwm) {
    return absl::NotFoundError(absl::StrCat("no VmRSS/VmHWM for pid ", pid));
  }
  return mem;
}

// ---------------------------------------------------------------------------
// ServerProcess
// ---------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::vector<std::string>& extra_flags, const std::string& root) {
  std::unique_ptr<ServerProcess> server(new ServerProcess());
  server->root_ = root.empty() ? server->dir_.Join("root") : root;
  server->scratch_ = server->dir_.Join("scratch");
  if ((root.empty() && ::mkdir(server->root_.c_str(), 0755) != 0) ||
      ::mkdir(server->scratch_.c_str(), 0755) != 0) {
    return ErrnoStatus("mkdir");
  }
  std::vector<std::string> argv = {BinDir() + "/overlapd", "--root", server->root_,
                                   "--metrics-listen", "127.0.0.1:0"};
  // A test that restarts a server on the same port passes its own --listen.
  if (std::find(extra_flags.begin(), extra_flags.end(), "--listen") == extra_flags.end()) {
    argv.insert(argv.end(), {"--listen", "127.0.0.1:0"});
  }
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Spawn(argv);
  if (!process.ok()) return process.status();
  server->process_ = *std::move(process);

  constexpr absl::string_view kReady = "overlapd ready ";
  if (!server->process_->WaitForOutput(kReady, seconds(15))) {
    absl::StatusOr<int> exited = server->process_->Wait(milliseconds(0));
    return absl::UnavailableError(absl::StrCat(
        "overlapd did not print its ready line within 15 s",
        exited.ok() ? absl::StrCat(" (exited with ", *exited, ")") : "",
        "; output:\n", server->process_->Output()));
  }
  // The line is complete once its newline is in: printf + fflush.
  const Clock::time_point deadline = Clock::now() + seconds(5);
  std::string line;
  for (;;) {
    const std::string out = server->process_->Output();
    const size_t at = out.find(std::string(kReady));
    const size_t end = out.find('\n', at);
    if (end != std::string::npos) {
      line = out.substr(at, end - at);
      break;
    }
    if (Clock::now() > deadline) return absl::UnavailableError("ready line cut off");
    std::this_thread::sleep_for(milliseconds(5));
  }
  // "overlapd ready grpc=127.0.0.1:PORT metrics=127.0.0.1:PORT"
  for (absl::string_view token : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
    int* port = nullptr;
    if (absl::ConsumePrefix(&token, "grpc=")) {
      server->address_ = std::string(token);
      port = &server->grpc_port_;
    } else if (absl::ConsumePrefix(&token, "metrics=")) {
      port = &server->metrics_port_;
    } else {
      continue;
    }
    const size_t colon = token.rfind(':');
    if (colon == absl::string_view::npos ||
        !absl::SimpleAtoi(token.substr(colon + 1), port)) {
      return absl::InternalError("cannot parse ready line: " + line);
    }
  }
  if (server->grpc_port_ == 0 || server->address_.rfind("127.0.0.1:", 0) != 0) {
    return absl::InternalError("ready line without a loopback grpc port: " + line);
  }
  return server;
}

std::string ServerProcess::RootPath(absl::string_view relative) const {
  return absl::StrCat(root_, "/", relative);
}

std::string ServerProcess::ScratchPath(absl::string_view relative) const {
  return absl::StrCat(scratch_, "/", relative);
}

std::shared_ptr<grpc::Channel> ServerProcess::NewChannel() const {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(128 << 20);
  args.SetMaxSendMessageSize(128 << 20);
  // Own connection: tests that check refused connections or drain must not
  // reuse one another channel opened.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<v1::IoService::Stub> ServerProcess::NewStub() const {
  return v1::IoService::NewStub(NewChannel());
}

CommandResult ServerProcess::RunCli(const std::vector<std::string>& args,
                                    milliseconds timeout) const {
  std::vector<std::string> argv = {BinDir() + "/overlap", "--server", address_};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, timeout);
}

absl::StatusOr<int> ServerProcess::Stop(milliseconds timeout) {
  process_->Signal(SIGTERM);
  return process_->Wait(timeout);
}

// ---------------------------------------------------------------------------
// Sockets
// ---------------------------------------------------------------------------

absl::StatusOr<int> FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    absl::Status status = ErrnoStatus("bind");
    ::close(fd);
    return status;
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

absl::StatusOr<HttpResponse> HttpGet(int port, absl::string_view path,
                                     milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("socket");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoStatus(absl::StrCat("connect 127.0.0.1:", port));
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1:", port,
                   "\r\nConnection: close\r\n\r\n");
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("send");
    }
    sent += static_cast<size_t>(n);
  }
  const Clock::time_point deadline = Clock::now() + timeout;
  std::string raw;
  char buf[65536];
  for (;;) {
    if (Clock::now() > deadline) return absl::DeadlineExceededError("HTTP GET timed out");
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("recv");
    }
    raw.append(buf, static_cast<size_t>(n));
    if (raw.size() > (64u << 20)) return absl::ResourceExhaustedError("HTTP body over 64 MiB");
  }
  // "HTTP/1.x 200 OK\r\n...\r\n\r\nbody"
  const size_t header_end = raw.find("\r\n\r\n");
  const size_t space = raw.find(' ');
  HttpResponse response;
  if (header_end == std::string::npos || space == std::string::npos ||
      !absl::SimpleAtoi(raw.substr(space + 1, 3), &response.status)) {
    return absl::DataLossError("malformed HTTP response: " + raw.substr(0, 200));
  }
  response.body = raw.substr(header_end + 4);
  return response;
}

absl::StatusOr<Prometheus> StartPrometheus(const std::string& binary, const TempDir& dir,
                                           int metrics_port) {
  WriteFileOrDie(dir.Join("prometheus.yml"),
                 absl::StrCat("global:\n"
                              "  scrape_interval: 1s\n"
                              "  evaluation_interval: 1s\n"
                              "scrape_configs:\n"
                              "  - job_name: overlapd\n"
                              "    static_configs:\n"
                              "      - targets: ['127.0.0.1:", metrics_port, "']\n"));
  Prometheus prom;
  absl::StatusOr<int> port = FreeLoopbackPort();
  if (!port.ok()) return port.status();
  prom.port = *port;
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Spawn(
      {binary, "--config.file=" + dir.Join("prometheus.yml"),
       "--storage.tsdb.path=" + dir.Join("data"),
       absl::StrCat("--web.listen-address=127.0.0.1:", prom.port), "--log.level=warn"});
  if (!process.ok()) return process.status();
  prom.process = *std::move(process);
  return prom;
}

}  // namespace overlapd::itest
