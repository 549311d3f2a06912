// Progress of put/get/sync on stderr: bytes done of the total, the rate, and
// the time left.
//
//   put big.bin: 1.2 GiB / 4.0 GiB (30%)  412.5 MiB/s  ETA 0:07
//
// On a terminal the line is redrawn in place at most ten times a second;
// with --progress and no terminal (a log, a test) a plain line is printed at
// most once a second and at the end. --quiet, or neither a terminal nor
// --progress: nothing. Thread-compatible.
#ifndef OVERLAPD_CLIENTS_CPP_PROGRESS_H_
#define OVERLAPD_CLIENTS_CPP_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "clients/cpp/cli_common.h"
#include "clients/cpp/transfer.h"

namespace overlapd {
namespace cli {

class Progress {
 public:
  Progress(std::string label, const GlobalOptions& global);
  ~Progress() { Done(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // The callback to hand to a transfer; nullptr when progress is off.
  ProgressFn Callback();
  // Ends the progress line so later output starts on a fresh line.
  void Done();

 private:
  void Draw(uint64_t done, uint64_t total);

  std::string label_;
  bool enabled_ = false;
  bool tty_ = false;
  bool drawn_ = false;
  bool started_ = false;
  uint64_t first_done_ = 0;  // bytes already there at the first report (a resume)
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

// "412.5 MiB/s".
std::string FormatRate(double bytes_per_second);
// Seconds as "0:07", "12:34" or "1:02:03"; "?" when unknown.
std::string FormatEta(double seconds);
// The progress text without the line handling: label, done / total (pct),
// rate, ETA (rate and ETA only once `seconds` > 0).
std::string ProgressText(const std::string& label, uint64_t done, uint64_t total,
                         uint64_t rate_base, double seconds);

}  // namespace cli
}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_PROGRESS_H_
