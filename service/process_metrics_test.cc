#include "service/process_metrics.h"

#include <fcntl.h>
#include <unistd.h>

#include <set>

#include "gtest/gtest.h"

namespace overlapd {
namespace {

TEST(ProcessMetricsTest, ParsesProcStatPastACommandWithParentheses) {
  // proc(5) fields 14-15 (utime, stime), 22 (starttime), 23 (vsize),
  // 24 (rss); the command name holds spaces and a ')'.
  const std::string stat =
      "4242 (over lapd) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 "
      "250 150 0 0 20 0 9 0 5000 123456789 300 18446744073709551615";
  std::optional<ProcStat> s = ParseProcStat(stat, /*boot_time=*/1000, /*ticks=*/100,
                                            /*page=*/4096);
  ASSERT_TRUE(s.has_value());
  EXPECT_DOUBLE_EQ(s->cpu_seconds, 4.0);
  EXPECT_DOUBLE_EQ(s->start_time_seconds, 1050.0);
  EXPECT_EQ(s->virtual_bytes, 123456789u);
  EXPECT_EQ(s->resident_bytes, 300u * 4096);
  EXPECT_FALSE(ParseProcStat("4242 (x) S 1 2", 0, 100, 4096).has_value());
  EXPECT_FALSE(ParseProcStat("garbage", 0, 100, 4096).has_value());
}

TEST(ProcessMetricsTest, CollectsTheStandardFamiliesOfThisProcess) {
  std::set<std::string> names;
  double open_fds = -1;
  for (const auto& f : ProcessCollector().Collect()) {
    names.insert(f.name);
    if (f.name == "process_open_fds") open_fds = f.metric.at(0).gauge.value;
  }
  for (const char* want : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_open_fds", "process_max_fds",
                           "process_start_time_seconds"}) {
    EXPECT_EQ(names.count(want), 1u) << want;
  }
  // The count follows this process' descriptors.
  const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  double after = -1;
  for (const auto& f : ProcessCollector().Collect()) {
    if (f.name == "process_open_fds") after = f.metric.at(0).gauge.value;
  }
  close(fd);
  EXPECT_EQ(after, open_fds + 1);
}

TEST(ProcessMetricsTest, RootFsReportsItsFileSystem) {
  const int fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  std::set<std::string> names;
  for (const auto& f : RootFsCollector(fd).Collect()) {
    names.insert(f.name);
    EXPECT_GE(f.metric.at(0).gauge.value, 0) << f.name;
  }
  close(fd);
  EXPECT_EQ(names, (std::set<std::string>{"overlapd_root_size_bytes", "overlapd_root_free_bytes",
                                          "overlapd_root_inodes", "overlapd_root_free_inodes"}));
}

}  // namespace
}  // namespace overlapd
