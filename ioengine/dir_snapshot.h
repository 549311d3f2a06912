// Sorted snapshots of directories' names, cached per directory version, so
// that paging through a large directory costs O(page) per List after the
// first page, not a readdir and a sort of the whole directory each time.
#ifndef OVERLAPD_IOENGINE_DIR_SNAPSHOT_H_
#define OVERLAPD_IOENGINE_DIR_SNAPSHOT_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace overlapd::io {

// The names of one directory at one moment ("." and ".." left out), sorted
// bytewise. Immutable once built; shared by every List that reads it.
//
// Example:
//
//   std::shared_ptr<const DirSnapshot> snap = ...;  // DirSnapshotCache::Get
//   for (size_t i = snap->UpperBound("e41"); i < snap->size(); ++i) {
//     std::string_view name = snap->name(i);  // names after "e41", in order
//   }
class DirSnapshot {
 public:
  // Reads every name of the directory open at `dir_fd` (from its start,
  // whatever the fd's position) and sorts them. Returns 0, or -errno.
  static int Read(int dir_fd, std::shared_ptr<const DirSnapshot>* out);
  // A snapshot of `names` (any order); for tests.
  static std::shared_ptr<const DirSnapshot> Of(std::vector<std::string> names);

  size_t size() const { return ends_.size(); }
  std::string_view name(size_t i) const {
    const size_t begin = i == 0 ? 0 : ends_[i - 1];
    return std::string_view(names_).substr(begin, ends_[i] - begin);
  }
  // Index of the first name greater than `after` (size() if none): where
  // a page that starts after `after` begins. O(log n).
  size_t UpperBound(std::string_view after) const;
  // Memory held, as counted against the cache's byte bound.
  size_t bytes() const { return sizeof(*this) + names_.capacity() + ends_.capacity() * sizeof(size_t); }

 private:
  // The names back to back in sorted order; name i ends at ends_[i]. One
  // allocation for all names instead of one std::string each: a 200,000
  // entry directory takes ~4 MB here rather than ~10 MB.
  std::string names_;
  std::vector<size_t> ends_;
};

// A bounded, thread-safe LRU cache of DirSnapshots, one per directory,
// keyed by the directory's identity (st_dev, st_ino) and checked against
// its version (st_ctim, st_mtim, st_size, st_nlink) on every lookup.
//
// When a snapshot may be reused: every change to a directory's entries
// (create, unlink, rename in or out, mkdir, rmdir) sets its mtime and ctime
// to the current time, so a snapshot taken after the last change stays
// right for as long as ctime is unchanged. ctime, unlike mtime, cannot be
// set from user space (utimensat sets mtime, and ctime to now). But a
// timestamp has a granularity: Linux stamps inodes from a clock that
// advances once per tick (ktime_get_coarse_real_ts64 in current_time(),
// fs/inode.c), and some filesystems keep whole seconds (ext4 with 128-byte
// inodes) or two (FAT). A change made in the same tick as the one before
// the snapshot leaves ctime as it was, and the snapshot would miss it. So a
// snapshot is kept only if the directory's ctime was at least a settle time
// older than the moment the snapshot began: any later change then carries a
// later ctime. The settle time is 2 s when ctime has no nanoseconds (a
// coarse filesystem) and 50 ms otherwise (several ticks even at HZ=100). A
// directory changed more recently than that is read afresh for every page,
// as before this cache existed. (Comparing entry counts instead would not
// help: counting the entries needs the full readdir this cache avoids.)
//
// Limits: a wall clock stepped backwards by more than the settle time could
// stamp a change with the ctime of a cached version; such a snapshot lives
// until its entry is evicted or the directory changes again.
//
// Threads: Get is called from any thread. The map and the LRU list are
// under one mutex, held only for lookups and inserts; readdir and sort run
// outside it, so two threads may build the same directory at once (the
// second insert replaces the first).
// Back-pressure: at most max_bytes of snapshots and max_snapshots entries;
// a snapshot larger than max_bytes is used once and never cached.
// Lifetime: snapshots are shared_ptrs: one evicted while a List reads it
// lives until that List is done.
//
// Example:
//
//   DirSnapshotCache cache({});
//   std::shared_ptr<const DirSnapshot> snap;
//   int rc = cache.Get(dir_fd, &snap);  // cached, or read and sorted now
class DirSnapshotCache {
 public:
  struct Options {
    // Total DirSnapshot::bytes() kept; 0 caches nothing (every Get reads
    // the directory).
    size_t max_bytes = 64 << 20;
    size_t max_snapshots = 4096;
    // CLOCK_REALTIME in ns, the clock inode timestamps come from; tests
    // replace it.
    std::function<int64_t()> now_ns;

    // The defaults, with `max_bytes`.
    static Options WithMaxBytes(size_t max_bytes) {
      Options o;
      o.max_bytes = max_bytes;
      return o;
    }
  };
  struct Stats {
    uint64_t hits = 0;      // served from the cache
    uint64_t misses = 0;    // read from the directory
    uint64_t unsettled = 0;  // misses not cached: changed too recently
    uint64_t evictions = 0;
    size_t bytes = 0;       // held now
    size_t snapshots = 0;   // held now
  };

  explicit DirSnapshotCache(Options options);
  DirSnapshotCache(const DirSnapshotCache&) = delete;
  DirSnapshotCache& operator=(const DirSnapshotCache&) = delete;

  // The sorted names of the directory open at `dir_fd`: the cached snapshot
  // if the directory has not changed since it was taken, else a new one
  // (cached if the directory has settled, see above). Returns 0 or -errno
  // (fstat, getdents).
  int Get(int dir_fd, std::shared_ptr<const DirSnapshot>* out);

  // Whether a snapshot of a directory with stat `sb`, begun at `now_ns`
  // (CLOCK_REALTIME), is safe to reuse while the version stays the same.
  static bool Settled(const struct stat& sb, int64_t now_ns);

  Stats stats() const;

 private:
  struct Key {
    dev_t dev;
    ino_t ino;
    bool operator==(const Key& o) const { return dev == o.dev && ino == o.ino; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return std::hash<uint64_t>()(static_cast<uint64_t>(k.ino) * 0x9e3779b97f4a7c15ULL ^ k.dev);
    }
  };
  struct Version {
    struct timespec ctime;
    struct timespec mtime;
    off_t size;
    nlink_t nlink;
    bool operator==(const Version& o) const;
  };
  struct Entry {
    Key key;
    Version version;
    std::shared_ptr<const DirSnapshot> snapshot;
  };
  using Lru = std::list<Entry>;  // most recently used first

  static Version VersionOf(const struct stat& sb);
  std::shared_ptr<const DirSnapshot> Lookup(const Key& key, const Version& version);
  void Insert(const Key& key, const Version& version,
              std::shared_ptr<const DirSnapshot> snapshot);
  void EraseLocked(Lru::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  Lru lru_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<Key, Lru::iterator, KeyHash> index_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace overlapd::io

#endif  // OVERLAPD_IOENGINE_DIR_SNAPSHOT_H_
