#include "service/server_flags.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace overlapd {
namespace {

// Parses `args` as overlapd's command line; returns CLI11's exit code
// (0: parsed) and leaves the result in `flags`.
int Parse(std::vector<std::string> args, ServerFlags& flags) {
  CLI::App app{"overlapd"};
  AddServerFlags(app, flags);
  args.insert(args.begin(), "overlapd");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    return e.get_exit_code();
  }
  return 0;
}

TEST(ServerFlagsTest, DefaultsNeedOnlyTheRoot) {
  ServerFlags flags;
  EXPECT_NE(Parse({}, flags), 0);  // --root is required
  ServerFlags rooted;
  ASSERT_EQ(Parse({"--root", "/srv/data"}, rooted), 0);
  ASSERT_TRUE(FinishServerFlags(rooted).ok());
  EXPECT_EQ(rooted.config.root, "/srv/data");
  EXPECT_EQ(rooted.config.listen, "127.0.0.1:50051");
  EXPECT_EQ(rooted.config.engine, io::EngineKind::kAuto);
  EXPECT_EQ(rooted.config.engine_options.chunk_bytes, ServerConfig{}.engine_options.chunk_bytes);
}

TEST(ServerFlagsTest, SizesTakeUnitsAndLandInTheirFields) {
  ServerFlags flags;
  ASSERT_EQ(Parse({"--root", "r", "--chunk-bytes", "256KiB", "--max-op-bytes", "8MiB",
                   "--max-read-buffer-bytes", "2GiB", "--engine", "threads",
                   "--event-log-events", "77", "--max-jobs", "3", "--tokens", "/dev/null"},
                  flags),
            0);
  ASSERT_TRUE(FinishServerFlags(flags).ok());
  EXPECT_EQ(flags.config.engine_options.chunk_bytes, 256u << 10);
  EXPECT_EQ(flags.config.limits.max_op_bytes, 8u << 20);
  EXPECT_EQ(flags.config.max_read_buffer_bytes, 2ull << 30);
  EXPECT_EQ(flags.config.engine, io::EngineKind::kThreads);
  EXPECT_EQ(flags.config.event_log_events, 77u);
  EXPECT_EQ(flags.config.max_jobs, 3u);
  EXPECT_EQ(flags.config.tokens_file, "/dev/null");
}

TEST(ServerFlagsTest, SingleFlagChecksRefuseBadValues) {
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"--engine", "aio"}, {"--queue-depth", "0"},
        {"--listen", "nonsense"}, {"--tokens", "/no/such/file"}, {"--max-jobs", "0"}}) {
    ServerFlags flags;
    std::vector<std::string> args = {"--root", "r"};
    args.insert(args.end(), bad.begin(), bad.end());
    EXPECT_NE(Parse(args, flags), 0) << bad[0] << " " << bad[1];
  }
}

TEST(ServerFlagsTest, CrossFlagChecksNameTheFlags) {
  ServerFlags op_too_big;
  ASSERT_EQ(Parse({"--root", "r", "--max-op-bytes", "80MiB"}, op_too_big), 0);
  absl::Status s = FinishServerFlags(op_too_big);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--max-op-bytes"), std::string::npos) << s;

  ServerFlags chunk_zero;
  ASSERT_EQ(Parse({"--root", "r", "--chunk-bytes", "0"}, chunk_zero), 0);
  s = FinishServerFlags(chunk_zero);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--chunk-bytes"), std::string::npos) << s;

  ServerFlags chunk_huge;
  ASSERT_EQ(Parse({"--root", "r", "--chunk-bytes", "64MiB"}, chunk_huge), 0);
  EXPECT_FALSE(FinishServerFlags(chunk_huge).ok());

  ServerFlags node_alone;  // --placement is checked to exist; --node alone is not
  ASSERT_EQ(Parse({"--root", "r", "--node", "a"}, node_alone), 0);
  s = FinishServerFlags(node_alone);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--placement and --node go together"), std::string::npos) << s;
}

TEST(ServerFlagsTest, PlacementNeedsAnExistingFile) {
  ServerFlags missing;
  EXPECT_NE(Parse({"--root", "r", "--placement", "/nonexistent/map.json", "--node", "a"},
                  missing), 0);
  ServerFlags cluster;
  ASSERT_EQ(Parse({"--root", "r", "--placement", "/dev/null", "--node", "a"}, cluster), 0);
  EXPECT_EQ(cluster.config.placement_file, "/dev/null");
  EXPECT_EQ(cluster.config.node_name, "a");
  EXPECT_TRUE(FinishServerFlags(cluster).ok());
}

}  // namespace
}  // namespace overlapd
