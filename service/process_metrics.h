// Metrics of the process and of the disk under --root, read when Prometheus
// scrapes (nothing on the IO path).
//
// Process metrics follow the names every Prometheus client library exports
// (https://prometheus.io/docs/instrumenting/writing_clientlibs/#process-metrics),
// read from /proc/self as the Go and Python clients do; no C++ library of
// Debian 12 provides them:
//
//   process_cpu_seconds_total       user + system CPU time
//   process_resident_memory_bytes   resident set size
//   process_virtual_memory_bytes    virtual memory size
//   process_open_fds                open file descriptors
//   process_max_fds                 the soft RLIMIT_NOFILE
//   process_start_time_seconds      start time, seconds since the epoch
//
// The root's file system (statvfs of the --root directory):
//
//   overlapd_root_size_bytes, overlapd_root_free_bytes (free to unprivileged
//   users), overlapd_root_inodes, overlapd_root_free_inodes
#ifndef OVERLAPD_SERVICE_PROCESS_METRICS_H_
#define OVERLAPD_SERVICE_PROCESS_METRICS_H_

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <optional>
#include "absl/strings/string_view.h"
#include <vector>

namespace overlapd {

// What /proc/self/stat says, in the units of the metrics.
struct ProcStat {
  double cpu_seconds = 0;
  double start_time_seconds = 0;  // since the epoch
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
};

// Parses the text of /proc/PID/stat (proc(5)); `boot_time` is /proc/stat's
// btime, `ticks` sysconf(_SC_CLK_TCK), `page` the page size. Nullopt when
// the text does not have the fields. The command name in parentheses may
// hold spaces and parentheses itself: fields are counted after the last ')'.
std::optional<ProcStat> ParseProcStat(absl::string_view text, double boot_time, long ticks,
                                      long page);

class ProcessCollector final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

// `root_fd`: an open descriptor of --root (not owned; must outlive this).
class RootFsCollector final : public prometheus::Collectable {
 public:
  explicit RootFsCollector(int root_fd) : root_fd_(root_fd) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const int root_fd_;
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_PROCESS_METRICS_H_
