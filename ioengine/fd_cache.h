// Open files shared by the chunks of ops, and a bounded cache of them for
// reads, so that many small reads of the same files do not pay an openat2
// each.
#ifndef OVERLAPD_IOENGINE_FD_CACHE_H_
#define OVERLAPD_IOENGINE_FD_CACHE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace overlapd::io {

// An open file descriptor, closed when the last reference goes. The chunks
// of one read run on several workers at once and each holds a reference, so
// a cache eviction never closes an fd under an IO in flight.
class File {
 public:
  static constexpr uint64_t kSizeUnknown = UINT64_MAX;

  explicit File(int fd) : fd_(fd) { open_.fetch_add(1, std::memory_order_relaxed); }
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  int fd() const { return fd_; }
  // Files open in the process now (every File alive): the engine's share of
  // the file descriptors.
  static int64_t open_count() { return open_.load(std::memory_order_relaxed); }

  // The size last seen by fstat: a hint that lets a read to EOF of a cached
  // file skip the fstat (the read itself confirms or refutes it).
  uint64_t size_seen() const { return size_seen_.load(std::memory_order_relaxed); }
  void set_size_seen(uint64_t size) { size_seen_.store(size, std::memory_order_relaxed); }

 private:
  static std::atomic<int64_t> open_;
  int fd_;
  std::atomic<uint64_t> size_seen_{kSizeUnknown};
};

// Lookups of an FdCache since it was made: a hit served a cached file, a
// miss found none (or one too old, or from before an Invalidate) and the
// caller opened the file.
struct FdCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t entries = 0;   // files cached now
  uint64_t capacity = 0;  // most files it keeps
};

// A bounded LRU map from path to read-only File. The cache holds the inode a
// path named when it was opened, so a change of what a name points to must
// end its entries:
// - overlapd's own renames, deletes and atomic replaces call Invalidate(),
//   which ends every entry at once (a rename of a directory changes every
//   path below it, and the same file has many spellings: "a/f", "./a/f",
//   "a//f"), so an acknowledged change is seen by every later read;
// - a file replaced by another process is served from the old inode for at
//   most `max_age_ns`.
// A reader takes generation() before it opens, and Put() stores the file
// under that generation: a file opened before an Invalidate() is never
// served after it. Thread-safe: the paths are spread over up to 16
// shards, each its own LRU under its own mutex, so workers opening different
// files rarely wait for each other; files leaving the cache are closed after
// the shard's lock is released.
class FdCache {
 public:
  FdCache(size_t capacity, uint64_t max_age_ns);

  // The cached file for `path`, or null.
  std::shared_ptr<File> Get(std::string_view path, uint64_t now_ns);
  // Caches `file`, opened at `generation` (taken before the open).
  void Put(std::string_view path, std::shared_ptr<File> file, uint64_t now_ns,
           uint64_t generation);
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // Ends every entry: overlapd itself renamed, removed or replaced a path.
  void Invalidate() { generation_.fetch_add(1, std::memory_order_acq_rel); }
  // Closes up to `fraction` of each shard's entries, oldest first: the
  // process ran out of file descriptors (EMFILE) and needs some back.
  // Returns how many were dropped.
  size_t Shed(double fraction);
  size_t size() const;
  // Hits, misses and entries, summed over the shards (each under its lock).
  FdCacheStats stats() const;

 private:
  struct Entry {
    std::string path;
    std::shared_ptr<File> file;
    uint64_t opened_ns;
    uint64_t generation;
  };
  struct alignas(64) Shard {
    mutable absl::Mutex mu;
    size_t capacity = 0;  // set before the cache is shared
    uint64_t hits ABSL_GUARDED_BY(mu) = 0;
    uint64_t misses ABSL_GUARDED_BY(mu) = 0;
    std::list<Entry> lru ABSL_GUARDED_BY(mu);  // most recently used first
    std::unordered_map<std::string_view, std::list<Entry>::iterator> index ABSL_GUARDED_BY(mu);
  };
  Shard& ShardFor(std::string_view path) const;

  const uint64_t max_age_ns_;
  std::atomic<uint64_t> generation_{0};
  const size_t shard_count_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace overlapd::io

#endif  // OVERLAPD_IOENGINE_FD_CACHE_H_
