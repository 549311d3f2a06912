// Tests that run against each engine backend (--engine uring / threads).
#ifndef OVERLAPD_TESTS_INTEGRATION_ENGINE_PARAM_H_
#define OVERLAPD_TESTS_INTEGRATION_ENGINE_PARAM_H_

#include <string>

#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include "tests/integration/server_test.h"

namespace overlapd::itest {

class EngineTest : public ServerTest,
                   public ::testing::WithParamInterface<std::string> {
 protected:
  // Starts the server on GetParam()'s engine and checks, through
  // GetCapabilities, that it really runs it. io_uring refused by the kernel
  // (seccomp in some containers, io_uring_disabled) skips the uring case.
  void StartOnEngine(std::vector<std::string> flags = {}) {
    flags.insert(flags.end(), {"--engine", GetParam()});
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(flags);
    if (!server.ok() && GetParam() == "uring" &&
        server.status().message().find("engine:") != absl::string_view::npos) {
      GTEST_SKIP() << "io_uring is not available here: " << server.status();
    }
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    auto stub = server_->NewStub();
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::Capabilities caps;
    grpc::Status status = stub->GetCapabilities(&context, {}, &caps);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(caps.engine(), GetParam());
    caps_ = caps;
  }

  v1::Capabilities caps_;
};

inline std::string EngineName(const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

}  // namespace overlapd::itest

#endif  // OVERLAPD_TESTS_INTEGRATION_ENGINE_PARAM_H_
