// systemd's Type=notify protocol, with this test in systemd's place: it
// binds the $NOTIFY_SOCKET datagram socket and reads what overlapd sends at
// start (READY=1, once it serves), on SIGHUP (RELOADING=1, then READY=1)
// and on SIGTERM (STOPPING=1).
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/integration/server_harness.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

using std::chrono::seconds;

// The next datagram on `fd` within `timeout_ms`, or "" when none came.
std::string Receive(int fd, int timeout_ms) {
  struct pollfd p = {fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return "";
  char buf[4096];
  const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

TEST(NotifyTest, ReadyReloadingAndStoppingReachSystemd) {
#ifndef OVERLAPD_HAVE_SYSTEMD
  GTEST_SKIP() << "built without libsystemd (Debian libsystemd-dev, in scripts/deps.sh): "
               << "overlapd does not notify";
#endif
  TempDir dir("overlapd-notify-");
  const std::string socket_path = dir.Join("notify");
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(socket_path.size(), sizeof(addr.sun_path));
  socket_path.copy(addr.sun_path, socket_path.size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  WriteFileOrDie(dir.Join("tokens"), "aaaaaaaaaaaaaaaaaaaa read\n");

  absl::StatusOr<std::unique_ptr<Subprocess>> server = Subprocess::Spawn(
      {"/usr/bin/env", "NOTIFY_SOCKET=" + socket_path, BinDir() + "/overlapd", "--root",
       dir.Join("root"), "--listen", "127.0.0.1:0", "--metrics-listen", "", "--tokens",
       dir.Join("tokens")});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string ready = Receive(fd, 20000);
  EXPECT_TRUE(absl::StrContains(ready, "READY=1")) << ready;
  EXPECT_TRUE(absl::StrContains(ready, "STATUS=serving ")) << ready;
  // READY comes once the server answers: its ready line is out by then.
  EXPECT_TRUE((*server)->WaitForOutput("overlapd ready", seconds(5))) << (*server)->Output();

  (*server)->Signal(SIGHUP);
  const std::string reloading = Receive(fd, 20000);
  EXPECT_TRUE(absl::StrContains(reloading, "RELOADING=1")) << reloading;
  const std::string reloaded = Receive(fd, 20000);
  EXPECT_TRUE(absl::StrContains(reloaded, "READY=1")) << reloaded;
  EXPECT_TRUE((*server)->WaitForOutput("bearer tokens: 1", seconds(5)));

  (*server)->Signal(SIGTERM);
  const std::string stopping = Receive(fd, 20000);
  EXPECT_TRUE(absl::StrContains(stopping, "STOPPING=1")) << stopping;
  absl::StatusOr<int> exit = (*server)->Wait(seconds(40));
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(*exit, 0) << (*server)->Output();
  ::close(fd);
}

}  // namespace
}  // namespace overlapd::itest
