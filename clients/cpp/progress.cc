#include "clients/cpp/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace overlapd {
namespace cli {

using Clock = std::chrono::steady_clock;

Progress::Progress(std::string label, const GlobalOptions& global)
    : label_(std::move(label)), tty_(::isatty(STDERR_FILENO) == 1) {
  enabled_ = !global.quiet && (tty_ || global.progress);
}

ProgressFn Progress::Callback() {
  if (!enabled_) return nullptr;
  return [this](uint64_t done, uint64_t total) { Draw(done, total); };
}

void Progress::Done() {
  if (drawn_ && tty_) std::fputc('\n', stderr);
  drawn_ = false;
}

void Progress::Draw(uint64_t done, uint64_t total) {
  const Clock::time_point now = Clock::now();
  if (!started_) {
    started_ = true;
    start_ = now;
    // The rate counts what this run moved, not what a resume found there.
    first_done_ = done;
  }
  const auto min_gap = tty_ ? std::chrono::milliseconds(100) : std::chrono::seconds(1);
  if (drawn_ && done != total && now - last_ < min_gap) return;
  last_ = now;
  drawn_ = true;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const std::string text = ProgressText(label_, done, total, first_done_, seconds);
  if (tty_) {
    std::fprintf(stderr, "\r%s\x1b[K", text.c_str());
  } else {
    std::fprintf(stderr, "%s\n", text.c_str());
  }
  std::fflush(stderr);
}

std::string FormatRate(double bytes_per_second) {
  return absl::StrCat(HumanBytes(static_cast<uint64_t>(std::max(bytes_per_second, 0.0))), "/s");
}

std::string FormatEta(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const uint64_t s = static_cast<uint64_t>(std::llround(seconds));
  if (s >= 3600) return absl::StrFormat("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
}

std::string ProgressText(const std::string& label, uint64_t done, uint64_t total,
                         uint64_t rate_base, double seconds) {
  std::string text = absl::StrCat(label, ": ", HumanBytes(done));
  if (total > 0) {
    absl::StrAppend(&text, " / ", HumanBytes(total), " (",
                    static_cast<int>(done * 100 / total), "%)");
  }
  if (seconds <= 0) return text;
  const double rate = static_cast<double>(done - std::min(done, rate_base)) / seconds;
  absl::StrAppend(&text, "  ", FormatRate(rate));
  if (total > 0 && done < total) {
    absl::StrAppend(&text, "  ETA ",
                    rate > 0 ? FormatEta(static_cast<double>(total - done) / rate) : "?");
  }
  return text;
}

}  // namespace cli
}  // namespace overlapd
