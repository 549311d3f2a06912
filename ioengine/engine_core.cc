#include "ioengine/engine_core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "ioengine/crc32c.h"
#include "ioengine/sandbox.h"

namespace overlapd::io {

using internal::Io;
using internal::Task;

namespace {

// How long a cached read fd may serve its path; see FdCache.
constexpr uint64_t kFdCacheMaxAgeNs = 2'000'000'000;
constexpr uint32_t kDefaultListLimit = 1000;

void RecordError(internal::OpState& st, int err) {
  int expected = 0;
  st.error.compare_exchange_strong(expected, err, std::memory_order_acq_rel);
}

FileType FileTypeOf(mode_t mode) {
  if (S_ISREG(mode)) return FileType::kRegular;
  if (S_ISDIR(mode)) return FileType::kDirectory;
  if (S_ISLNK(mode)) return FileType::kSymlink;
  return FileType::kOther;
}

FileInfo InfoOf(std::string name, const struct stat& sb) {
  FileInfo info;
  info.name = std::move(name);
  info.type = FileTypeOf(sb.st_mode);
  info.size = static_cast<uint64_t>(sb.st_size);
  info.mtime_ns = static_cast<int64_t>(sb.st_mtim.tv_sec) * 1'000'000'000 +
                  sb.st_mtim.tv_nsec;
  info.mode = sb.st_mode & 07777;
  return info;
}

}  // namespace

uint64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string_view OpTypeName(OpType type) {
  switch (type) {
    case OpType::kRead: return "read";
    case OpType::kWrite: return "write";
    case OpType::kFsync: return "fsync";
    case OpType::kStat: return "stat";
    case OpType::kList: return "list";
    case OpType::kCopy: return "copy";
    case OpType::kRename: return "rename";
    case OpType::kDelete: return "delete";
    case OpType::kMkdir: return "mkdir";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------
// ReadCredit

bool ReadCredit::TakeOrPark(uint64_t bytes, Op* op) {
  std::lock_guard<std::mutex> lock(mu_);
  if (used_ == 0 || used_ + bytes <= limit_) {
    used_ += bytes;
    return true;
  }
  parked_.push_back(op);
  return false;
}

void ReadCredit::Release(uint64_t bytes) {
  std::vector<Op*> wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    used_ -= std::min(bytes, used_);
    if (parked_.empty() || used_ >= limit_) return;
    wake.swap(parked_);
  }
  // Each resumed op takes what it can and parks again if it finds too little.
  for (Op* op : wake) op->state.engine->Resume(op);
}

void ReadCredit::Open() {
  std::vector<Op*> wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    limit_ = UINT64_MAX;
    wake.swap(parked_);
  }
  for (Op* op : wake) op->state.engine->Resume(op);
}

uint64_t ReadCredit::in_use() const {
  std::lock_guard<std::mutex> lock(mu_);
  return used_;
}

namespace internal {

// ---------------------------------------------------------------------------
// CrcFolder

void CrcFolder::Reset() {
  std::lock_guard<std::mutex> lock(mu_);
  crc_ = 0;
  next_ = 0;
  ahead_.clear();
}

void CrcFolder::Add(uint64_t index, uint32_t crc, uint64_t len, const Crc32cCombiner& full) {
  std::lock_guard<std::mutex> lock(mu_);
  if (index != next_) {
    ahead_.emplace(index, std::make_pair(crc, len));
    return;
  }
  for (;;) {
    crc_ = len == full.len() ? full.Combine(crc_, crc) : Crc32cCombine(crc_, crc, len);
    ++next_;
    auto it = ahead_.find(next_);
    if (it == ahead_.end()) return;
    std::tie(crc, len) = it->second;
    ahead_.erase(it);
  }
}

uint32_t CrcFolder::value() const {
  std::lock_guard<std::mutex> lock(mu_);
  return crc_;
}

// ---------------------------------------------------------------------------
// TaskList and Inbox

void TaskList::PushBack(Task* t) {
  t->next = nullptr;
  if (tail_ == nullptr) {
    head_ = tail_ = t;
  } else {
    tail_->next = t;
    tail_ = t;
  }
}

void TaskList::PushFront(Task* t) {
  t->next = head_;
  head_ = t;
  if (tail_ == nullptr) tail_ = t;
}

Task* TaskList::PopFront() {
  Task* t = head_;
  if (t == nullptr) return nullptr;
  head_ = t->next;
  if (head_ == nullptr) tail_ = nullptr;
  t->next = nullptr;
  return t;
}

void TaskList::Append(Task* chain) {
  while (chain != nullptr) {
    Task* next = chain->next;
    PushBack(chain);
    chain = next;
  }
}

Inbox::Inbox() : event_fd_(eventfd(0, EFD_CLOEXEC)) {
  if (event_fd_ < 0) {
    perror("overlapd: eventfd");
    abort();
  }
}

Inbox::~Inbox() { close(event_fd_); }

void Inbox::Push(Task* t) {
  tasks_.Push(t);
  if (sleeping_.load(std::memory_order_seq_cst) &&
      sleeping_.exchange(false, std::memory_order_seq_cst)) {
    Wake();
  }
}

Task* Inbox::TakeAll() { return tasks_.TakeAll(); }

bool Inbox::PrepareSleep() {
  sleeping_.store(true, std::memory_order_seq_cst);
  if (!tasks_.empty()) {
    sleeping_.store(false, std::memory_order_relaxed);
    return false;
  }
  return true;
}

void Inbox::Wake() {
  uint64_t one = 1;
  // A full counter (EAGAIN) already means "wake up".
  [[maybe_unused]] ssize_t n = write(event_fd_, &one, sizeof(one));
}

}  // namespace internal

// ---------------------------------------------------------------------------
// EngineCore

EngineCore::EngineCore(EngineOptions options)
    : options_([&] {
        if (options.workers <= 0) {
          options.workers =
              std::max(1u, std::thread::hardware_concurrency());
        }
        if (options.chunk_bytes == 0) options.chunk_bytes = 1 << 20;
        if (options.queue_depth < 1) options.queue_depth = 1;
        return options;
      }()),
      own_temp_namer_(options_.temp_namer == nullptr
                          ? std::make_unique<TempNamer>(TempNamer::Ephemeral())
                          : nullptr),
      temp_namer_(options_.temp_namer != nullptr ? options_.temp_namer
                                                 : own_temp_namer_.get()),
      fd_cache_(options_.fd_cache_entries, kFdCacheMaxAgeNs),
      chunk_crc_combiner_(options_.chunk_bytes) {
  for (int i = 0; i < options_.workers; ++i) {
    workers_.push_back(std::make_unique<Worker>());
  }
}

EngineCore::~EngineCore() = default;

void EngineCore::StartWorkers() {
  for (int i = 0; i < workers(); ++i) {
    workers_[i]->thread = std::thread([this, i] {
      char name[16];
      snprintf(name, sizeof(name), "io-%s-%d", std::string(this->name()).c_str(), i);
      pthread_setname_np(pthread_self(), name);
      WorkerLoop(i);
    });
  }
}

void EngineCore::StopWorkers() {
  stopping_.store(true);
  for (auto& w : workers_) w->inbox.Wake();
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

bool EngineCore::Drained() const {
  return stopping_.load(std::memory_order_acquire) &&
         active_ops_.load(std::memory_order_acquire) == 0;
}

void EngineCore::OpDone() {
  if (active_ops_.fetch_sub(1, std::memory_order_acq_rel) == 1 &&
      stopping_.load(std::memory_order_acquire)) {
    for (auto& w : workers_) w->inbox.Wake();
  }
}

void EngineCore::Push(int worker, Task* task) {
  Worker& w = *workers_[worker];
  w.stats.pending.fetch_add(1, std::memory_order_relaxed);
  w.inbox.Push(task);
}

bool EngineCore::TakeInbox(Worker& w) {
  Task* chain = w.inbox.TakeAll();
  if (chain == nullptr) return false;
  w.ready.Append(chain);
  return true;
}

Io* EngineCore::NextIo(Worker& w, int worker) {
  while (Task* t = w.ready.PopFront()) {
    w.stats.pending.fetch_sub(1, std::memory_order_relaxed);
    switch (t->kind) {
      case Task::Kind::kOp:
        RunOp(internal::OpOf(t), worker);
        break;
      case Task::Kind::kCancel: {
        auto* cancel = static_cast<internal::CancelTask*>(t->owner);
        CancelOnWorker(worker, cancel->op_id);
        delete cancel;
        break;
      }
      case Task::Kind::kIo: {
        Io* io = internal::IoOf(t);
        if (!SkipCancelled(io, worker)) return io;
        break;
      }
    }
  }
  return nullptr;
}

void EngineCore::Requeue(Worker& w, Io* io) {
  w.ready.PushFront(&io->task);
  w.stats.pending.fetch_add(1, std::memory_order_relaxed);
}

void EngineCore::Submit(Op* op) {
  internal::OpState& st = op->state;
  st.engine = this;
  st.id = next_op_id_.fetch_add(1, std::memory_order_relaxed);
  st.file2.reset();
  st.temp_name.clear();
  st.task.owner = op;
  st.task.kind = Task::Kind::kOp;
  st.file.reset();
  st.started = false;
  st.cut_short = false;
  st.next_offset = 0;
  st.end_offset = 0;
  st.assumed_size = File::kSizeUnknown;
  st.chunks_issued = 0;
  st.crc.Reset();
  st.created = false;
  // One reference for the issuer; each IO in flight holds another.
  st.outstanding.store(1, std::memory_order_relaxed);
  st.bytes_done.store(0, std::memory_order_relaxed);
  st.error.store(0, std::memory_order_relaxed);
  st.eof_offset.store(UINT64_MAX, std::memory_order_relaxed);
  st.phase = 0;
  st.dir_fd = -1;
  st.submit_ns = NowNs();
  st.home_worker = static_cast<int>(
      next_worker_.fetch_add(1, std::memory_order_relaxed) % workers_.size());
  op->result = 0;
  op->bytes = 0;
  active_ops_.fetch_add(1, std::memory_order_relaxed);
  Push(st.home_worker, &st.task);
}

void EngineCore::Resume(Op* op) { Push(op->state.home_worker, &op->state.task); }

void EngineCore::Cancel(Op* op) {
  if (op->cancelled.exchange(true, std::memory_order_acq_rel)) return;
  CancelInFlight(op->state.id);
}

bool EngineCore::SkipCancelled(Io* io, int worker) {
  if (!io->op->cancelled.load(std::memory_order_relaxed)) return false;
  // Fsyncs still run: a cancelled atomic replace may be past its rename,
  // and the directory must then be synced like any finished one.
  if (io->kind == Io::Kind::kFsync || io->kind == Io::Kind::kFdatasync) {
    return false;
  }
  CompleteIo(io, -ECANCELED, worker);
  return true;
}

void EngineCore::RunOp(Op* op, int worker) {
  if (!op->state.started) {
    Start(op, worker);
  } else {
    IssueChunks(op, worker);
  }
}

void EngineCore::Start(Op* op, int worker) {
  internal::OpState& st = op->state;
  st.started = true;
  st.start_ns = NowNs();
  if (op->cancelled.load(std::memory_order_relaxed)) {
    st.cut_short = true;
    Finish(op, worker);
    return;
  }
  switch (op->type) {
    case OpType::kRead:
      StartRead(op, worker);
      return;
    case OpType::kWrite:
      StartWrite(op, worker);
      return;
    case OpType::kFsync:
      StartFsync(op, worker);
      return;
    case OpType::kStat:
      RunStat(op);
      break;
    case OpType::kList:
      RunList(op);
      break;
    case OpType::kCopy:
      StartCopy(op, worker);
      return;
    case OpType::kRename:
      RunRename(op);
      break;
    case OpType::kDelete:
      RunDelete(op);
      break;
    case OpType::kMkdir:
      RunMkdir(op);
      break;
  }
  Finish(op, worker);
}

// Opening and sizing run synchronously on the worker: openat2 has no
// RESOLVE_BENEATH form as an io_uring op before 5.6 kernels' OPENAT2, and a
// cached dentry lookup costs less than a ring round trip. The fd cache makes
// repeated small reads skip it.
void EngineCore::StartRead(Op* op, int worker) {
  internal::OpState& st = op->state;
  uint64_t now = NowNs();
  if (op->direct && op->offset % kDirectAlign != 0) {
    RecordError(st, -EINVAL);
    Finish(op, worker);
    return;
  }
  // A file is cached per base (a token's prefix resolves the same path
  // differently) and O_DIRECT fds apart: a path never contains a NUL byte.
  std::string key = op->base.empty() ? op->path : op->base + '\0' + op->path;
  if (op->direct) key += std::string_view("\0direct", 7);
  st.file = fd_cache_.Get(key, now);
  if (st.file == nullptr) {
    const uint64_t generation = fd_cache_.generation();
    int fd = Open(op, op->path, O_RDONLY | (op->direct ? O_DIRECT : 0), 0, Want::kRegular);
    if (fd < 0) {
      RecordError(st, fd);
      Finish(op, worker);
      return;
    }
    st.file = std::make_shared<File>(fd);
    fd_cache_.Put(key, st.file, now, generation);
  }
  // No file is that large (pread would say EINVAL): past EOF, a short read.
  if (op->offset > static_cast<uint64_t>(INT64_MAX)) {
    Finish(op, worker);
    return;
  }
  // A read that fits one chunk needs no size: a short read ends it at EOF
  // (and the kernel says EISDIR for a directory). A read to EOF of a file
  // whose size was seen before assumes that size and reads one byte past
  // it: stopping exactly there confirms it, and reaching the extra byte
  // means the file grew (Advance sizes it then, see ReadOnPastAssumedSize).
  // Other reads are sized first, so that no chunk is issued past the end:
  // the read covers the file as it is now; one that shrinks meanwhile ends
  // short.
  uint64_t start = op->offset;
  uint64_t end = op->offset + op->length;
  const uint64_t seen = st.file->size_seen();
  if (op->length == 0 && !op->direct && seen != File::kSizeUnknown &&
      !OverReadLimit(op->offset, seen)) {
    st.assumed_size = std::max(seen, op->offset);
    end = st.assumed_size + 1;
  } else if (op->length == 0 || op->length > options_.chunk_bytes || end < start) {
    uint64_t size = 0;
    if (!SizeOf(op, &size)) {
      Finish(op, worker);
      return;
    }
    start = std::min(op->offset, size);
    end = op->length == 0 || end < op->offset ? size : std::min(size, end);
    if (OverReadLimit(start, end)) {
      RecordError(st, -E2BIG);
      Finish(op, worker);
      return;
    }
  }
  st.next_offset = start;
  st.end_offset = end;
  IssueChunks(op, worker);
}

bool EngineCore::OverReadLimit(uint64_t start, uint64_t end) const {
  return options_.max_read_bytes != 0 && end > start && end - start > options_.max_read_bytes;
}

template <typename OpenFn>
int EngineCore::InBase(const Op* op, std::string_view path, OpenFn open) {
  for (int attempt = 0;; ++attempt) {
    int fd;
    if (op->base.empty()) {
      fd = open(options_.root_fd, path);
    } else {
      std::string_view rest;
      int base_fd = OpenBaseDir(options_.root_fd, op->base, path, &rest);
      fd = base_fd < 0 ? base_fd : open(base_fd, rest);
      if (base_fd >= 0) close(base_fd);
    }
    // Out of descriptors: the cache holds most of them; give half back and
    // try once more (connections need fds too, see main.cc).
    if ((fd == -EMFILE || fd == -ENFILE) && attempt == 0 && fd_cache_.Shed(0.5) > 0) continue;
    return fd;
  }
}

int EngineCore::Open(const Op* op, std::string_view path, int flags, mode_t mode, Want want) {
  return InBase(op, path, [&](int dir_fd, std::string_view rest) {
    return OpenChecked(dir_fd, rest, flags, mode, want);
  });
}

int EngineCore::OpenParent(const Op* op, std::string_view path, std::string* leaf) {
  std::string_view rest;
  if (!op->base.empty() && RestUnderBase(op->base, path, &rest) && rest.empty()) {
    // The op names the token's prefix directory itself (a mkdir of it, say):
    // its parent lies outside the prefix, beneath the root.
    return OpenParentBeneath(options_.root_fd, op->base, leaf);
  }
  return InBase(op, path, [&](int dir_fd, std::string_view rest) {
    return OpenParentBeneath(dir_fd, rest, leaf);
  });
}

bool EngineCore::SizeOf(Op* op, uint64_t* size) {
  internal::OpState& st = op->state;
  struct stat sb;
  if (fstat(st.file->fd(), &sb) != 0) {
    RecordError(st, -errno);
    return false;
  }
  if (S_ISDIR(sb.st_mode)) {
    RecordError(st, -EISDIR);
    return false;
  }
  *size = static_cast<uint64_t>(sb.st_size);
  st.file->set_size_seen(*size);
  return true;
}

// Runs when nothing is in flight. A read to EOF planned from an assumed size
// that got every byte it asked for, the one past that size included, and
// did not fail: the file grew. Sizes it and issues the rest; false when
// there is nothing more to read (the op goes on to finish).
bool EngineCore::ReadOnPastAssumedSize(Op* op, int worker) {
  internal::OpState& st = op->state;
  if (st.assumed_size == File::kSizeUnknown ||
      st.eof_offset.load(std::memory_order_acquire) != UINT64_MAX ||
      st.error.load(std::memory_order_acquire) != 0 ||
      op->cancelled.load(std::memory_order_relaxed)) {
    return false;
  }
  st.assumed_size = File::kSizeUnknown;
  uint64_t size = 0;
  if (!SizeOf(op, &size) || size <= st.next_offset) return false;
  if (OverReadLimit(op->offset, size)) {
    RecordError(st, -E2BIG);
    return false;
  }
  st.end_offset = size;
  st.outstanding.store(1, std::memory_order_relaxed);  // the issuer's
  IssueChunks(op, worker);
  return true;
}

void EngineCore::StartWrite(Op* op, int worker) {
  internal::OpState& st = op->state;
  op->crc32c = Crc32c(op->data);
  if (op->expected_crc32c.has_value() && *op->expected_crc32c != op->crc32c) {
    RecordError(st, -EBADMSG);
    Finish(op, worker);
    return;
  }
  if (op->mode == WriteMode::kReplaceAtomic) {
    if (!OpenAtomicTemp(op)) {
      Finish(op, worker);
      return;
    }
  } else {
    int flags = O_WRONLY;
    switch (op->mode) {
      case WriteMode::kAt: break;
      case WriteMode::kCreateNew: break;
      case WriteMode::kTruncate: flags |= O_TRUNC; break;
      case WriteMode::kAppend: flags |= O_APPEND; break;
      case WriteMode::kReplaceAtomic: break;
    }
    // An existing file is opened as it is; a missing one is created with
    // O_EXCL, so the op knows the file is its own and removes it again if
    // the write fails (a failed write must not leave an empty file).
    int fd = op->mode == WriteMode::kCreateNew ? -ENOENT : Open(op, op->path, flags, 0, Want::kRegular);
    if (fd == -ENOENT) {
      fd = Open(op, op->path, flags | O_CREAT | O_EXCL, 0644, Want::kRegular);
      st.created = fd >= 0;
      if (fd == -EEXIST && op->mode != WriteMode::kCreateNew) {
        fd = Open(op, op->path, flags, 0, Want::kRegular);  // lost a race to a creator
      }
    }
    if (fd < 0) {
      RecordError(st, fd);
      Finish(op, worker);
      return;
    }
    st.file = std::make_shared<File>(fd);
  }
  st.next_offset = op->offset;
  st.end_offset = op->offset + op->data.size();
  IssueChunks(op, worker);
}

// Creates the temp file of an atomic replace beside its target, with O_EXCL
// in the target's own directory so that the final rename stays on one
// filesystem and cannot follow a link.
bool EngineCore::OpenAtomicTemp(Op* op) {
  internal::OpState& st = op->state;
  std::string leaf;
  int dir_fd = OpenParent(op, op->path, &leaf);
  if (dir_fd < 0) {
    RecordError(st, dir_fd);
    return false;
  }
  st.dir_fd = dir_fd;
  // 64 random bits: a collision (EEXIST) is as good as impossible, but a
  // retry costs nothing.
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string name = temp_namer_->Mint(leaf, TempKind::kAtomic);
    int fd = openat(dir_fd, name.c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0) {
      st.temp_name = std::move(name);
      st.file = std::make_shared<File>(fd);
      return true;
    }
    if (errno != EEXIST) {
      RecordError(st, -errno);
      return false;
    }
  }
  RecordError(st, -EEXIST);
  return false;
}

void EngineCore::StartCopy(Op* op, int worker) {
  internal::OpState& st = op->state;
  int src = Open(op, op->path, O_RDONLY, 0, Want::kRegular);
  if (src < 0) {
    RecordError(st, src);
    Finish(op, worker);
    return;
  }
  st.file = std::make_shared<File>(src);
  struct stat src_sb, dst_sb;
  if (fstat(src, &src_sb) != 0) {
    RecordError(st, -errno);
  } else if (OverReadLimit(0, static_cast<uint64_t>(src_sb.st_size))) {
    RecordError(st, -E2BIG);
  }
  if (st.error.load(std::memory_order_relaxed) == 0) {
    // Opened without O_TRUNC first: a copy onto its own source must fail,
    // not truncate the only copy of the data.
    int dst = Open(op, op->path2, O_WRONLY | O_CREAT, 0644, Want::kRegular);
    if (dst < 0) {
      RecordError(st, dst);
    } else {
      st.file2 = std::make_shared<File>(dst);
      if (fstat(dst, &dst_sb) != 0) {
        RecordError(st, -errno);
      } else if (dst_sb.st_dev == src_sb.st_dev && dst_sb.st_ino == src_sb.st_ino) {
        RecordError(st, -EINVAL);
      } else if (ftruncate(dst, 0) != 0) {
        RecordError(st, -errno);
      }
    }
  }
  if (st.error.load(std::memory_order_relaxed) != 0) {
    Finish(op, worker);
    return;
  }
  uint64_t size = static_cast<uint64_t>(src_sb.st_size);
  st.next_offset = 0;
  st.end_offset = size;
  IssueChunks(op, worker);
}

void EngineCore::RunRename(Op* op) {
  std::string src_leaf, dst_leaf;
  int src_dir = OpenParent(op, op->path, &src_leaf);
  if (src_dir < 0) {
    RecordError(op->state, src_dir);
    return;
  }
  int dst_dir = OpenParent(op, op->path2, &dst_leaf);
  if (dst_dir < 0) {
    RecordError(op->state, dst_dir);
  } else {
    if (renameat2(src_dir, src_leaf.c_str(), dst_dir, dst_leaf.c_str(),
                  op->no_replace ? RENAME_NOREPLACE : 0) != 0) {
      RecordError(op->state, -errno);
    }
    close(dst_dir);
  }
  close(src_dir);
  fd_cache_.Invalidate();
}

void EngineCore::RunDelete(Op* op) {
  std::string leaf;
  int dir = OpenParent(op, op->path, &leaf);
  if (dir < 0) {
    RecordError(op->state, dir);
    return;
  }
  if (unlinkat(dir, leaf.c_str(), op->directory ? AT_REMOVEDIR : 0) != 0) {
    RecordError(op->state, -errno);
  }
  close(dir);
  fd_cache_.Invalidate();
}

// mkdir, or mkdir -p: each missing component in turn, each created through
// its parent opened beneath the root.
void EngineCore::RunMkdir(Op* op) {
  std::vector<std::string> targets;
  if (op->parents) {
    std::string prefix;
    for (size_t start = 0; start <= op->path.size();) {
      size_t end = op->path.find('/', start);
      if (end == std::string::npos) end = op->path.size();
      std::string_view part(op->path.data() + start, end - start);
      if (!part.empty() && part != ".") {
        if (!prefix.empty()) prefix += '/';
        prefix += part;
        targets.push_back(prefix);
      }
      start = end + 1;
    }
  } else {
    targets.push_back(op->path);
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    std::string leaf;
    int dir = OpenParent(op, targets[i], &leaf);
    if (dir < 0) {
      // "a/.." and friends: nothing to create at this step.
      if (dir == -EINVAL && op->parents) continue;
      RecordError(op->state, dir);
      return;
    }
    int rc = mkdirat(dir, leaf.c_str(), 0755);
    int err = rc == 0 ? 0 : errno;
    if (err == EEXIST && op->parents) {
      struct stat sb;
      if (fstatat(dir, leaf.c_str(), &sb, 0) == 0 && S_ISDIR(sb.st_mode)) err = 0;
    }
    close(dir);
    if (err != 0) {
      RecordError(op->state, -err);
      return;
    }
  }
}

void EngineCore::StartFsync(Op* op, int worker) {
  int fd = Open(op, op->path, O_RDONLY, 0, Want::kRegularOrDirectory);
  if (fd < 0) {
    RecordError(op->state, fd);
    Finish(op, worker);
    return;
  }
  op->state.file = std::make_shared<File>(fd);
  IssueIo(op, op->data_only ? Io::Kind::kFdatasync : Io::Kind::kFsync, fd,
          worker);
}

void EngineCore::RunStat(Op* op) {
  int fd = InBase(op, op->path, [](int dir_fd, std::string_view rest) {
    return OpenBeneath(dir_fd, rest, O_PATH);
  });
  if (fd < 0) {
    RecordError(op->state, fd);
    return;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    RecordError(op->state, -errno);
  } else {
    op->stat = InfoOf(op->path, sb);
  }
  close(fd);
}

void EngineCore::RunList(Op* op) {
  int fd = InBase(op, op->path, [](int dir_fd, std::string_view rest) {
    return OpenBeneath(dir_fd, rest, O_RDONLY | O_DIRECTORY);
  });
  if (fd < 0) {
    RecordError(op->state, fd);
    return;
  }
  DIR* dir = fdopendir(fd);
  if (dir == nullptr) {
    RecordError(op->state, -errno);
    close(fd);
    return;
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = readdir(dir)) {
    std::string_view name(e->d_name);
    if (name == "." || name == "..") continue;
    names.emplace_back(name);
  }
  if (errno != 0) RecordError(op->state, -errno);
  std::sort(names.begin(), names.end());
  auto it = op->start_after.empty()
                ? names.begin()
                : std::upper_bound(names.begin(), names.end(), op->start_after);
  uint32_t limit = op->limit == 0 ? kDefaultListLimit : op->limit;
  op->entries.clear();
  for (; it != names.end() && op->entries.size() < limit; ++it) {
    struct stat sb;
    // One component, no symlink followed: cannot leave the directory.
    if (fstatat(dirfd(dir), it->c_str(), &sb, AT_SYMLINK_NOFOLLOW) != 0) {
      continue;  // removed since readdir
    }
    op->entries.push_back(InfoOf(*it, sb));
  }
  op->more_entries = it != names.end();
  closedir(dir);
}

// Issues the chunks of a read or write, spread round-robin over the workers
// starting at the op's home. One call at a time per op: at start and after
// each resume from a parked ReadCredit (on the home worker), and when a read
// to EOF finds its file grew (on the worker that finished its last chunk,
// with nothing in flight). Stops early on cancel or error; the issuer's
// reference is dropped once nothing is left to issue, so the op finishes
// when its last chunk does.
void EngineCore::IssueChunks(Op* op, int worker) {
  internal::OpState& st = op->state;
  // Copies read like reads: chunks charge the credit, EOF stops them.
  const bool is_read = op->type == OpType::kRead || op->type == OpType::kCopy;
  const bool append = op->type == OpType::kWrite && op->mode == WriteMode::kAppend;
  while (st.next_offset < st.end_offset) {
    if (op->cancelled.load(std::memory_order_relaxed)) {
      st.cut_short = true;
      break;
    }
    if (st.error.load(std::memory_order_relaxed) != 0) break;
    if (is_read && st.next_offset >= st.eof_offset.load(std::memory_order_acquire)) {
      break;
    }
    // An append is one IO: its chunks could not be ordered in the file.
    uint64_t len = append ? st.end_offset - st.next_offset
                          : std::min<uint64_t>(options_.chunk_bytes,
                                               st.end_offset - st.next_offset);
    if (is_read && !op->credit->TakeOrPark(len, op)) return;

    auto* io = new Io;
    io->op = op;
    io->op_id = st.id;
    io->fd = st.file->fd();
    io->offset = st.next_offset;
    io->len = len;
    io->index = st.chunks_issued++;
    if (is_read) {
      io->kind = op->type == OpType::kCopy ? Io::Kind::kCopyRead : Io::Kind::kRead;
      io->credit_bytes = len;
      if (op->direct) {
        io->len = (len + kDirectAlign - 1) / kDirectAlign * kDirectAlign;
        io->aligned.reset(static_cast<char*>(aligned_alloc(kDirectAlign, io->len)));
        io->buf = io->aligned.get();
      } else {
        io->data.resize(len);
        io->buf = io->data.data();
      }
    } else {
      io->kind = Io::Kind::kWrite;
      io->buf = op->data.data() + (st.next_offset - op->offset);
      if (append) io->offset = Io::kAtEnd;
    }
    st.next_offset += len;
    st.outstanding.fetch_add(1, std::memory_order_relaxed);
    Push((st.home_worker + io->index) % workers(), &io->task);
  }
  DropRef(op, worker);
}

void EngineCore::IssueIo(Op* op, Io::Kind kind, int fd, int worker) {
  auto* io = new Io;
  io->kind = kind;
  io->op = op;
  io->op_id = op->state.id;
  io->fd = fd;
  op->state.outstanding.store(1, std::memory_order_relaxed);
  Push(worker, &io->task);
}

namespace {

// Accounts for one transfer of a read (plain or a copy's): returns true
// when the IO must go again for the rest (a short read). A read that ends
// early (0 bytes, or any short O_DIRECT read: the rest cannot be read at an
// unaligned offset) means the file shrank after it was sized: nothing is
// issued past that point, and what was read counts.
bool ReadProgress(Io* io, int64_t res) {
  const bool direct = io->op->direct;
  internal::OpState& st = io->op->state;
  if (res < 0) {
    RecordError(st, static_cast<int>(res));
    return false;
  }
  io->done += static_cast<uint64_t>(res);
  if (io->done >= io->len) return false;
  uint64_t eof = io->offset + io->done;
  // A short read that stops at the size the read assumed is the EOF it
  // expected, not a transfer to finish.
  if (res > 0 && !direct && eof != st.assumed_size) return true;
  uint64_t cur = st.eof_offset.load(std::memory_order_relaxed);
  while (eof < cur && !st.eof_offset.compare_exchange_weak(cur, eof)) {
  }
  return false;
}

}  // namespace

bool EngineCore::CompleteIo(Io* io, int64_t res, int worker) {
  if (res == -EINTR || res == -EAGAIN) return true;
  Op* op = io->op;
  internal::OpState& st = op->state;
  switch (io->kind) {
    case Io::Kind::kRead:
      if (ReadProgress(io, res)) return true;
      FinishReadChunk(io);
      break;
    case Io::Kind::kCopyRead:
      if (ReadProgress(io, res)) return true;
      if (st.error.load(std::memory_order_relaxed) == 0 && io->done != 0) {
        // The bytes are in hand: the same Io now writes them out.
        st.crc.Add(io->index, Crc32c(io->buf, io->done), io->done, chunk_crc_combiner_);
        io->kind = Io::Kind::kWrite;
        io->fd = st.file2->fd();
        io->len = io->done;
        io->done = 0;
        return true;
      }
      op->credit->Release(io->credit_bytes);
      break;
    case Io::Kind::kWrite:
      if (res > 0) {
        io->done += static_cast<uint64_t>(res);
        if (io->done < io->len) return true;  // short write: the rest
      } else {
        // A write that makes no progress would loop forever; the kernel
        // only does that for a full device it does not report (e.g. FUSE).
        RecordError(st, res == 0 ? -EIO : static_cast<int>(res));
      }
      st.bytes_done.fetch_add(io->done, std::memory_order_relaxed);
      if (io->credit_bytes != 0) op->credit->Release(io->credit_bytes);
      break;
    case Io::Kind::kFsync:
    case Io::Kind::kFdatasync:
      // Never retried: after a failed fsync the kernel may have dropped the
      // dirty pages, and a second fsync would report a false success.
      if (res < 0) RecordError(st, static_cast<int>(res));
      break;
  }
  delete io;
  DropRef(op, worker);
  return false;
}

void EngineCore::FinishReadChunk(Io* io) {
  Op* op = io->op;
  internal::OpState& st = op->state;
  // An O_DIRECT IO may read past the chunk (its length is rounded up).
  uint64_t n = std::min(io->done, io->credit_bytes);
  uint32_t crc = n != 0 ? Crc32c(io->buf, n) : 0;
  st.crc.Add(io->index, crc, n, chunk_crc_combiner_);
  st.bytes_done.fetch_add(n, std::memory_order_relaxed);
  uint64_t release = io->credit_bytes - n;
  bool deliver = op->deliver_data && n != 0 &&
                 st.error.load(std::memory_order_relaxed) == 0 &&
                 !op->cancelled.load(std::memory_order_relaxed);
  if (deliver) {
    if (io->aligned != nullptr) {
      io->data.assign(io->buf, n);
    } else {
      io->data.resize(n);
    }
    op->sink->OnReadChunk(*op, io->offset, std::move(io->data), crc);
  } else {
    release += n;
  }
  if (release != 0) op->credit->Release(release);
}

void EngineCore::DropRef(Op* op, int worker) {
  if (op->state.outstanding.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    Advance(op, worker);
  }
}

// Runs when an op has no IO in flight: issues its next step, or finishes
// it. After the data of a write or copy:
//   DATA          fdatasync
//   FULL          fsync, then fsync of the parent directory (a new name
//                 survives a crash too)
//   atomic write  fdatasync of the temp file, rename over the target, fsync
//                 of the directory
// A cancel or an error skips the steps not begun.
void EngineCore::Advance(Op* op, int worker) {
  internal::OpState& st = op->state;
  if (ReadOnPastAssumedSize(op, worker)) return;
  const bool writes = op->type == OpType::kWrite || op->type == OpType::kCopy;
  const bool atomic = op->type == OpType::kWrite && op->mode == WriteMode::kReplaceAtomic;
  if (writes && (atomic || op->durability != Durability::kNone) &&
      st.error.load(std::memory_order_acquire) == 0) {
    const int data_fd = (op->type == OpType::kCopy ? st.file2 : st.file)->fd();
    if (op->cancelled.load(std::memory_order_relaxed) && !(atomic && st.phase == 2)) {
      st.cut_short = true;
    } else if (st.phase == 0) {
      st.phase = 1;
      bool full = op->durability == Durability::kFull && !atomic;
      IssueIo(op, full ? Io::Kind::kFsync : Io::Kind::kFdatasync, data_fd, worker);
      return;
    } else if (st.phase == 1 && atomic) {
      st.phase = 2;
      std::string leaf;
      size_t slash = op->path.find_last_of('/');
      leaf = op->path.substr(slash == std::string::npos ? 0 : slash + 1);
      if (renameat(st.dir_fd, st.temp_name.c_str(), st.dir_fd, leaf.c_str()) != 0) {
        RecordError(st, -errno);
      } else {
        st.temp_name.clear();
        fd_cache_.Invalidate();
        IssueIo(op, Io::Kind::kFsync, st.dir_fd, worker);
        return;
      }
    } else if (st.phase == 1 && op->durability == Durability::kFull) {
      st.phase = 2;
      std::string leaf;
      const std::string& target = op->type == OpType::kCopy ? op->path2 : op->path;
      int dir_fd = OpenParent(op, target, &leaf);
      if (dir_fd < 0) {
        RecordError(st, dir_fd);
      } else {
        st.dir_fd = dir_fd;
        IssueIo(op, Io::Kind::kFsync, dir_fd, worker);
        return;
      }
    }
  }
  Finish(op, worker);
}

void EngineCore::Finish(Op* op, int worker) {
  internal::OpState& st = op->state;
  int err = st.error.load(std::memory_order_acquire);
  if (err == 0 && st.cut_short) err = -ECANCELED;
  op->result = err;
  op->bytes = st.bytes_done.load(std::memory_order_acquire);
  if (op->type == OpType::kRead || op->type == OpType::kCopy) {
    op->crc32c = st.crc.value();
  }
  uint64_t now = NowNs();
  op->queued_ns = st.start_ns - st.submit_ns;
  op->service_ns = now - st.start_ns;
  if (err != 0 && st.created && op->bytes == 0) RemoveCreated(op);
  if (!st.temp_name.empty()) {
    // An atomic replace that failed or was cancelled before its rename:
    // the target is untouched, and its temp file goes.
    unlinkat(st.dir_fd, st.temp_name.c_str(), 0);
    st.temp_name.clear();
  }
  st.file.reset();
  st.file2.reset();
  if (st.dir_fd >= 0) {
    close(st.dir_fd);
    st.dir_fd = -1;
  }
  // After OnComplete the op belongs to the caller again: read what is
  // needed first.
  Op* next = op->link_next;
  OpSink* sink = op->sink;
  sink->OnComplete(*op);
  if (next != nullptr) {
    if (err == 0) {
      Submit(next);
    } else {
      CancelChain(next);
    }
  }
  OpDone();
}

// A write that created its file and wrote nothing leaves no empty file.
void EngineCore::RemoveCreated(Op* op) {
  std::string leaf;
  int dir = OpenParent(op, op->path, &leaf);
  if (dir < 0) return;
  unlinkat(dir, leaf.c_str(), 0);
  close(dir);
  fd_cache_.Invalidate();
}

void EngineCore::CancelChain(Op* op) {
  while (op != nullptr) {
    Op* next = op->link_next;
    op->result = -ECANCELED;
    op->bytes = 0;
    op->queued_ns = 0;
    op->service_ns = 0;
    op->sink->OnComplete(*op);
    op = next;
  }
}

}  // namespace overlapd::io
