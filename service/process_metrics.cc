#include "service/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace overlapd {
namespace {

prometheus::MetricFamily Single(const char* name, const char* help, prometheus::MetricType type,
                                double value) {
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return {name, help, type, {m}};
}

std::string ReadSmallFile(const char* path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// /proc/stat's "btime N": the boot time, seconds since the epoch.
double BootTime() {
  static const double boot = [] {
    for (absl::string_view line : absl::StrSplit(ReadSmallFile("/proc/stat"), '\n')) {
      double v = 0;
      if (line.substr(0, 6) == "btime " && absl::SimpleAtod(line.substr(6), &v)) return v;
    }
    return 0.0;
  }();
  return boot;
}

// Entries of /proc/self/fd, less the one the listing itself holds open.
int64_t OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int64_t n = 0;
  while (struct dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;
}

}  // namespace

std::optional<ProcStat> ParseProcStat(absl::string_view text, double boot_time, long ticks,
                                      long page) {
  const size_t paren = text.rfind(')');
  if (paren == absl::string_view::npos || ticks <= 0) return std::nullopt;
  // Fields after "pid (comm)": state is field 3 of proc(5), so index i here
  // is field i + 3.
  std::vector<absl::string_view> f =
      absl::StrSplit(text.substr(paren + 1), ' ', absl::SkipEmpty());
  uint64_t utime = 0, stime = 0, start = 0, vsize = 0, rss = 0;
  if (f.size() < 22 || !absl::SimpleAtoi(f[11], &utime) || !absl::SimpleAtoi(f[12], &stime) ||
      !absl::SimpleAtoi(f[19], &start) || !absl::SimpleAtoi(f[20], &vsize) ||
      !absl::SimpleAtoi(f[21], &rss)) {
    return std::nullopt;
  }
  ProcStat s;
  s.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(ticks);
  s.start_time_seconds = boot_time + static_cast<double>(start) / static_cast<double>(ticks);
  s.virtual_bytes = vsize;
  s.resident_bytes = rss * static_cast<uint64_t>(page);
  return s;
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  std::optional<ProcStat> stat = ParseProcStat(ReadSmallFile("/proc/self/stat"), BootTime(),
                                               sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE));
  if (stat.has_value()) {
    out.push_back(Single("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                         MetricType::Counter, stat->cpu_seconds));
    out.push_back(Single("process_resident_memory_bytes", "Resident memory size in bytes.",
                         MetricType::Gauge, static_cast<double>(stat->resident_bytes)));
    out.push_back(Single("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                         MetricType::Gauge, static_cast<double>(stat->virtual_bytes)));
    out.push_back(Single("process_start_time_seconds",
                         "Start time of the process since unix epoch in seconds.",
                         MetricType::Gauge, stat->start_time_seconds));
  }
  const int64_t fds = OpenFds();
  if (fds >= 0) {
    out.push_back(Single("process_open_fds", "Number of open file descriptors.",
                         MetricType::Gauge, static_cast<double>(fds)));
  }
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    out.push_back(Single("process_max_fds", "Maximum number of open file descriptors.",
                         MetricType::Gauge, static_cast<double>(lim.rlim_cur)));
  }
  return out;
}

std::vector<prometheus::MetricFamily> RootFsCollector::Collect() const {
  using prometheus::MetricType;
  struct statvfs vfs;
  if (fstatvfs(root_fd_, &vfs) != 0) return {};
  const double unit = static_cast<double>(vfs.f_frsize);
  return {
      Single("overlapd_root_size_bytes", "Size of the file system that holds --root",
             MetricType::Gauge, static_cast<double>(vfs.f_blocks) * unit),
      Single("overlapd_root_free_bytes",
             "Bytes free for unprivileged users on the file system that holds --root",
             MetricType::Gauge, static_cast<double>(vfs.f_bavail) * unit),
      Single("overlapd_root_inodes", "Inodes of the file system that holds --root",
             MetricType::Gauge, static_cast<double>(vfs.f_files)),
      Single("overlapd_root_free_inodes",
             "Inodes free for unprivileged users on the file system that holds --root",
             MetricType::Gauge, static_cast<double>(vfs.f_favail)),
  };
}

}  // namespace overlapd
