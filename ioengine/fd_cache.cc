#include "ioengine/fd_cache.h"

#include <unistd.h>

namespace overlapd::io {

File::~File() {
  if (fd_ >= 0) close(fd_);
}

FdCache::FdCache(size_t capacity, uint64_t max_age_ns)
    : capacity_(capacity), max_age_ns_(max_age_ns) {}

std::shared_ptr<File> FdCache::Get(std::string_view path, uint64_t now_ns) {
  if (capacity_ == 0) return nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(path);
  if (it == index_.end()) return nullptr;
  auto entry = it->second;
  if (now_ns - entry->opened_ns > max_age_ns_) {
    index_.erase(it);
    lru_.erase(entry);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, entry);
  return entry->file;
}

void FdCache::Put(std::string_view path, std::shared_ptr<File> file,
                  uint64_t now_ns) {
  if (capacity_ == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(path);
  if (it != index_.end()) {
    it->second->file = std::move(file);
    it->second->opened_ns = now_ns;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  if (lru_.size() >= capacity_) {
    index_.erase(lru_.back().path);
    lru_.pop_back();
  }
  lru_.push_front(Entry{std::string(path), std::move(file), now_ns});
  // The key views the string owned by the list node, which never moves.
  index_.emplace(lru_.front().path, lru_.begin());
}

void FdCache::Erase(std::string_view path) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(path);
  if (it == index_.end()) return;
  auto entry = it->second;
  index_.erase(it);
  lru_.erase(entry);
}

size_t FdCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lru_.size();
}

}  // namespace overlapd::io
