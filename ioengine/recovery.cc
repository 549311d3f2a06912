#include "ioengine/recovery.h"

#include <sys/stat.h>
#include <time.h>

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <system_error>

#include "absl/synchronization/mutex.h"

namespace overlapd::io {

namespace fs = std::filesystem;

SweepResult SweepTempFiles(const std::string& root, const TempNamer& namer,
                           int64_t upload_grace_s, bool atomic_too) {
  SweepResult result;
  const time_t now = time(nullptr);
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() < 2 || name[0] != '.') continue;
    const bool atomic = atomic_too && namer.Proves(name, TempKind::kAtomic);
    const bool upload = !atomic && namer.Proves(name, TempKind::kUpload);
    if (!atomic && !upload) continue;
    struct stat sb;
    if (lstat(it->path().c_str(), &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
    if (upload && now - sb.st_mtime < upload_grace_s) continue;  // may be live
    std::error_code rm_ec;
    if (fs::remove(it->path(), rm_ec)) ++(atomic ? result.atomic_removed : result.uploads_removed);
  }
  return result;
}

UploadSweeper::UploadSweeper(std::string root, const TempNamer* namer, int64_t grace_s,
                             int64_t period_s) {
  thread_ = std::thread([this, root = std::move(root), namer, grace_s, period_s] {
    mu_.Lock();
    while (!mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Seconds(period_s))) {
      mu_.Unlock();  // the sweep walks the whole tree: not under the lock
      SweepResult r = SweepTempFiles(root, *namer, grace_s, /*atomic_too=*/false);
      if (r.uploads_removed > 0) {
        spdlog::info("removed {} upload temp files unmodified for {} s", r.uploads_removed,
                     grace_s);
      }
      mu_.Lock();
    }
    mu_.Unlock();
  });
}

UploadSweeper::~UploadSweeper() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

}  // namespace overlapd::io
