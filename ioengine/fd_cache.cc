#include "ioengine/fd_cache.h"

#include <unistd.h>

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/synchronization/mutex.h"

namespace overlapd::io {
namespace {

// Below this many entries per shard one LRU serves the whole cache, so small
// caches keep exact LRU order.
constexpr size_t kMinShardEntries = 256;
constexpr size_t kMaxShards = 16;

}  // namespace

std::atomic<int64_t> File::open_{0};

File::~File() {
  if (fd_ >= 0) close(fd_);
  open_.fetch_sub(1, std::memory_order_relaxed);
}

FdCache::FdCache(size_t capacity, uint64_t max_age_ns)
    : max_age_ns_(max_age_ns),
      shard_count_(std::clamp<size_t>(capacity / kMinShardEntries, 1, kMaxShards)),
      shards_(std::make_unique<Shard[]>(shard_count_)) {
  for (size_t i = 0; i < shard_count_; ++i) {
    // The first capacity % shard_count_ shards take one more entry each.
    shards_[i].capacity = capacity / shard_count_ + (i < capacity % shard_count_ ? 1 : 0);
  }
}

FdCache::Shard& FdCache::ShardFor(std::string_view path) const {
  if (shard_count_ == 1) return shards_[0];
  return shards_[std::hash<std::string_view>{}(path) % shard_count_];
}

std::shared_ptr<File> FdCache::Get(std::string_view path, uint64_t now_ns) {
  Shard& shard = ShardFor(path);
  if (shard.capacity == 0) return nullptr;
  std::shared_ptr<File> expired;  // closed after the lock is released
  absl::MutexLock lock(&shard.mu);
  auto it = shard.index.find(path);
  if (it == shard.index.end()) {
    ++shard.misses;
    return nullptr;
  }
  auto entry = it->second;
  if (now_ns - entry->opened_ns > max_age_ns_ || entry->generation != generation()) {
    expired = std::move(entry->file);
    shard.index.erase(it);
    shard.lru.erase(entry);
    ++shard.misses;
    return nullptr;
  }
  ++shard.hits;
  shard.lru.splice(shard.lru.begin(), shard.lru, entry);
  return entry->file;
}

void FdCache::Put(std::string_view path, std::shared_ptr<File> file,
                  uint64_t now_ns, uint64_t generation) {
  Shard& shard = ShardFor(path);
  if (shard.capacity == 0 || generation != this->generation()) return;
  std::shared_ptr<File> evicted;  // closed after the lock is released
  absl::MutexLock lock(&shard.mu);
  auto it = shard.index.find(path);
  if (it != shard.index.end()) {
    evicted = std::exchange(it->second->file, std::move(file));
    it->second->opened_ns = now_ns;
    it->second->generation = generation;
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
    return;
  }
  if (shard.lru.size() >= shard.capacity) {
    evicted = std::move(shard.lru.back().file);
    shard.index.erase(shard.lru.back().path);
    shard.lru.pop_back();
  }
  shard.lru.push_front(Entry{std::string(path), std::move(file), now_ns, generation});
  // The key views the string owned by the list node, which never moves.
  shard.index.emplace(shard.lru.front().path, shard.lru.begin());
}

size_t FdCache::Shed(double fraction) {
  size_t dropped = 0;
  for (size_t i = 0; i < shard_count_; ++i) {
    Shard& shard = shards_[i];
    std::list<Entry> gone;  // closed after the lock is released
    {
      absl::MutexLock lock(&shard.mu);
      size_t n = static_cast<size_t>(static_cast<double>(shard.lru.size()) * fraction + 0.999);
      for (; n > 0 && !shard.lru.empty(); --n) {
        shard.index.erase(shard.lru.back().path);
        gone.splice(gone.begin(), shard.lru, std::prev(shard.lru.end()));
      }
    }
    dropped += gone.size();
  }
  return dropped;
}

size_t FdCache::size() const {
  size_t total = 0;
  for (size_t i = 0; i < shard_count_; ++i) {
    absl::MutexLock lock(&shards_[i].mu);
    total += shards_[i].lru.size();
  }
  return total;
}

FdCacheStats FdCache::stats() const {
  FdCacheStats s;
  for (size_t i = 0; i < shard_count_; ++i) {
    absl::MutexLock lock(&shards_[i].mu);
    s.hits += shards_[i].hits;
    s.misses += shards_[i].misses;
    s.entries += shards_[i].lru.size();
    s.capacity += shards_[i].capacity;
  }
  return s;
}

}  // namespace overlapd::io
