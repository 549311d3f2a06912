// The gtest fixture of the integration tests: one fresh overlapd per test.
#ifndef OVERLAPD_TESTS_INTEGRATION_SERVER_TEST_H_
#define OVERLAPD_TESTS_INTEGRATION_SERVER_TEST_H_

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/server_harness.h"

namespace overlapd::itest {

class ServerTest : public ::testing::Test {
 protected:
  // Starts overlapd with `flags`; a fatal failure if it does not come up.
  // Call as ASSERT_NO_FATAL_FAILURE(StartServer({...})).
  void StartServer(const std::vector<std::string>& flags = {}) {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(flags);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // On failure, the server's own account helps most: print its log.
  void TearDown() override {
    if (HasFailure() && server_ != nullptr) {
      std::string log = server_->Log();
      if (log.size() > 8000) log = "...\n" + log.substr(log.size() - 8000);
      std::cerr << "---- overlapd output ----\n" << log << "---- end ----\n";
    }
  }

  std::unique_ptr<ServerProcess> server_;
};

}  // namespace overlapd::itest

#endif  // OVERLAPD_TESTS_INTEGRATION_SERVER_TEST_H_
