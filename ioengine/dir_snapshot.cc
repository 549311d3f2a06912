#include "ioengine/dir_snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "absl/synchronization/mutex.h"

namespace overlapd::io {

namespace {

constexpr int64_t kNsPerSec = 1'000'000'000;
// See the class comment of DirSnapshotCache: how long after a directory's
// last change a later change could still carry the same ctime.
constexpr int64_t kSettleCoarseNs = 2 * kNsPerSec;
constexpr int64_t kSettleFineNs = 50'000'000;
// getdents64 buffer: ~2,000 typical entries per system call.
constexpr size_t kDentsBytes = 64 << 10;

int64_t RealtimeNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

int64_t NsOf(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

bool SameTime(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

// Packs `names` (sorted) into one buffer and its end offsets.
void Pack(const std::vector<std::string_view>& names, std::string* packed,
          std::vector<size_t>* ends) {
  size_t total = 0;
  for (std::string_view n : names) total += n.size();
  packed->reserve(total);
  ends->reserve(names.size());
  for (std::string_view n : names) {
    packed->append(n);
    ends->push_back(packed->size());
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// DirSnapshot

// getdents64 straight into a large buffer (readdir's is 32 KiB), every name
// appended to one string; then string_views into it are sorted and packed.
// Errors: the first failing lseek or getdents64, as -errno.
int DirSnapshot::Read(int dir_fd, std::shared_ptr<const DirSnapshot>* out) {
  if (lseek(dir_fd, 0, SEEK_SET) < 0) return -errno;
  std::unique_ptr<char[]> buf(new char[kDentsBytes]);
  std::string raw;
  std::vector<size_t> raw_ends;
  for (;;) {
    ssize_t n = getdents64(dir_fd, buf.get(), kDentsBytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) break;
    for (ssize_t pos = 0; pos < n;) {
      const auto* d = reinterpret_cast<const struct dirent64*>(buf.get() + pos);
      pos += d->d_reclen;
      std::string_view name(d->d_name);
      if (name == "." || name == "..") continue;
      raw.append(name);
      raw_ends.push_back(raw.size());
    }
  }
  std::vector<std::string_view> views;
  views.reserve(raw_ends.size());
  for (size_t i = 0, begin = 0; i < raw_ends.size(); begin = raw_ends[i++]) {
    views.emplace_back(raw.data() + begin, raw_ends[i] - begin);
  }
  std::sort(views.begin(), views.end());
  auto snap = std::make_shared<DirSnapshot>();
  Pack(views, &snap->names_, &snap->ends_);
  *out = std::move(snap);
  return 0;
}

std::shared_ptr<const DirSnapshot> DirSnapshot::Of(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  std::vector<std::string_view> views(names.begin(), names.end());
  auto snap = std::make_shared<DirSnapshot>();
  Pack(views, &snap->names_, &snap->ends_);
  return snap;
}

size_t DirSnapshot::UpperBound(std::string_view after) const {
  size_t lo = 0, hi = size();
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (name(mid) <= after) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// ---------------------------------------------------------------------------
// DirSnapshotCache

bool DirSnapshotCache::Version::operator==(const Version& o) const {
  return SameTime(ctime, o.ctime) && SameTime(mtime, o.mtime) && size == o.size &&
         nlink == o.nlink;
}

DirSnapshotCache::DirSnapshotCache(Options options)
    : options_([&] {
        if (!options.now_ns) options.now_ns = RealtimeNs;
        return std::move(options);
      }()) {}

DirSnapshotCache::Version DirSnapshotCache::VersionOf(const struct stat& sb) {
  return Version{sb.st_ctim, sb.st_mtim, sb.st_size, sb.st_nlink};
}

bool DirSnapshotCache::Settled(const struct stat& sb, int64_t now_ns) {
  const int64_t settle = sb.st_ctim.tv_nsec == 0 ? kSettleCoarseNs : kSettleFineNs;
  return NsOf(sb.st_ctim) + settle < now_ns;
}

// The directory is fstat()ed before it is read: a change during the read
// gives it a newer version than the one the snapshot is stored under, so
// the next Get reads it again.
int DirSnapshotCache::Get(int dir_fd, std::shared_ptr<const DirSnapshot>* out) {
  const int64_t now = options_.now_ns();
  struct stat sb;
  if (fstat(dir_fd, &sb) != 0) return -errno;
  const Key key{sb.st_dev, sb.st_ino};
  const Version version = VersionOf(sb);
  if (auto hit = Lookup(key, version)) {
    *out = std::move(hit);
    return 0;
  }
  std::shared_ptr<const DirSnapshot> snap;
  int rc = DirSnapshot::Read(dir_fd, &snap);
  if (rc != 0) return rc;
  if (Settled(sb, now)) {
    Insert(key, version, snap);
  } else {
    absl::MutexLock lock(&mu_);
    ++stats_.unsettled;
  }
  *out = std::move(snap);
  return 0;
}

std::shared_ptr<const DirSnapshot> DirSnapshotCache::Lookup(const Key& key,
                                                            const Version& version) {
  std::shared_ptr<const DirSnapshot> stale;  // freed after the lock is released
  absl::MutexLock lock(&mu_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    ++stats_.misses;
    return nullptr;
  }
  if (!(it->second->version == version)) {
    // The directory changed: this snapshot can never serve again.
    stale = it->second->snapshot;
    EraseLocked(it->second);
    ++stats_.misses;
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  ++stats_.hits;
  return it->second->snapshot;
}

void DirSnapshotCache::Insert(const Key& key, const Version& version,
                              std::shared_ptr<const DirSnapshot> snapshot) {
  const size_t bytes = snapshot->bytes();
  if (bytes > options_.max_bytes || options_.max_snapshots == 0) return;
  // Freed after the lock is released: a large snapshot's free is not cheap.
  std::vector<std::shared_ptr<const DirSnapshot>> dropped;
  absl::MutexLock lock(&mu_);
  if (auto it = index_.find(key); it != index_.end()) {
    dropped.push_back(it->second->snapshot);
    EraseLocked(it->second);
  }
  while (!lru_.empty() && (stats_.bytes + bytes > options_.max_bytes ||
                           stats_.snapshots + 1 > options_.max_snapshots)) {
    dropped.push_back(lru_.back().snapshot);
    EraseLocked(std::prev(lru_.end()));
    ++stats_.evictions;
  }
  lru_.push_front(Entry{key, version, std::move(snapshot)});
  index_[key] = lru_.begin();
  stats_.bytes += bytes;
  ++stats_.snapshots;
}

void DirSnapshotCache::EraseLocked(Lru::iterator it) {
  stats_.bytes -= it->snapshot->bytes();
  --stats_.snapshots;
  index_.erase(it->key);
  lru_.erase(it);
}

DirSnapshotCache::Stats DirSnapshotCache::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace overlapd::io
