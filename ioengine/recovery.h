// Start-up recovery of what a crash can leave in the root.
#ifndef OVERLAPD_IOENGINE_RECOVERY_H_
#define OVERLAPD_IOENGINE_RECOVERY_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "ioengine/temp_names.h"

namespace overlapd::io {

struct SweepResult {
  size_t atomic_removed = 0;   // temp files of interrupted atomic replaces
  size_t uploads_removed = 0;  // abandoned upload temps past their grace
};

// Walks `root` without following symlinks and removes the regular files
// whose names `namer` proves it minted: every atomic-replace temp (a running
// server has none of its own yet when this runs at start-up; their targets
// are intact, a replace renames only once complete), and upload temps not
// modified for `upload_grace_s` seconds. Names that only look like temp
// files are never touched. Errors on single entries are skipped.
SweepResult SweepTempFiles(const std::string& root, const TempNamer& namer,
                           int64_t upload_grace_s, bool atomic_too);

// Sweeps abandoned upload temps in the background, every `period_s`
// seconds, until destroyed (the destructor stops the thread at once).
class UploadSweeper {
 public:
  UploadSweeper(std::string root, const TempNamer* namer, int64_t grace_s, int64_t period_s);
  ~UploadSweeper();
  UploadSweeper(const UploadSweeper&) = delete;
  UploadSweeper& operator=(const UploadSweeper&) = delete;

 private:
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace overlapd::io

#endif  // OVERLAPD_IOENGINE_RECOVERY_H_
