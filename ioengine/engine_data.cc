// EngineCore: reads, writes, copies and fsyncs. A read is sized (or assumes
// the size last seen, reading one byte past it to notice growth; see
// StartRead), split into chunk_bytes chunks issued round-robin over the
// workers under the op's ReadCredit, and each chunk's CRC32C is folded in
// file order as chunks finish. A write's chunks go out the same way; a copy
// reads a chunk, then writes the same buffer to its temp destination.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <string>

#include "ioengine/crc32c.h"
#include "ioengine/engine_core.h"
#include "ioengine/sandbox.h"

namespace overlapd::io {

using internal::ChunkIo;
using internal::RecordError;

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
  // means the file grew (StepOrFinish sizes it then, see ReadOnPastAssumedSize).
  // Other reads are sized first, so that no chunk is issued past the end:
  // the read covers the file as it is now; one that shrinks meanwhile ends
  // short.
  uint64_t start = op->offset;
  uint64_t end = op->offset + op->length;
  const uint64_t seen = st.file->size_seen();
  // A read into a buffer is sized first: its end must fit the buffer.
  if (op->length == 0 && !op->direct && op->buffer == nullptr && seen != File::kSizeUnknown &&
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
  if (op->buffer != nullptr) {
    const int err = CheckBufferRoom(*op, start, end);
    if (err != 0) {
      RecordError(st, err);
      Finish(op, worker);
      return;
    }
  }
  st.next_offset = start;
  st.end_offset = end;
  IssueChunks(op, worker);
}

// The range [start, end) of a read into a buffer must land inside it; an
// O_DIRECT one also needs an aligned buffer, and room for its last chunk's
// rounded-up length (it would otherwise overwrite bytes past the range).
int EngineCore::CheckBufferRoom(const Op& op, uint64_t start, uint64_t end) {
  const uint64_t first = start - op.offset;  // where `start` lands
  uint64_t len = end > start ? end - start : 0;
  if (op.direct) {
    len = (len + kDirectAlign - 1) / kDirectAlign * kDirectAlign;
    if (reinterpret_cast<uintptr_t>(op.buffer) % kDirectAlign != 0) return -EINVAL;
  }
  if (first > op.buffer_bytes || len > op.buffer_bytes - first) {
    return op.direct && end - start <= op.buffer_bytes - first ? -EINVAL : -EOVERFLOW;
  }
  return 0;
}

bool EngineCore::OverReadLimit(uint64_t start, uint64_t end) const {
  return options_.max_read_bytes != 0 && end > start && end - start > options_.max_read_bytes;
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
  st.refs.store(1, std::memory_order_relaxed);  // the issuer's
  IssueChunks(op, worker);
  return true;
}

void EngineCore::StartWrite(Op* op, int worker) {
  internal::OpState& st = op->state;
  op->crc32c = Crc32c(WriteData(*op));
  if (op->expected_crc32c.has_value() && *op->expected_crc32c != op->crc32c) {
    RecordError(st, -EBADMSG);
    Finish(op, worker);
    return;
  }
  if (op->mode == WriteMode::kReplaceAtomic) {
    st.file = OpenTempBeside(op, op->path);
    if (st.file == nullptr) {
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
  st.end_offset = op->offset + WriteData(*op).size();
  IssueChunks(op, worker);
}

// A copy writes a temp file beside its destination and renames it over the
// destination once complete (as REPLACE_ATOMIC does): readers see the old
// file or the whole copy, and a copy cancelled or cut by a shutdown leaves
// no partial destination.
void EngineCore::StartCopy(Op* op, int worker) {
  internal::OpState& st = op->state;
  int src = Open(op, op->path, O_RDONLY, 0, Want::kRegular);
  if (src < 0) {
    RecordError(st, src);
    Finish(op, worker);
    return;
  }
  st.file = std::make_shared<File>(src);
  struct stat src_sb;
  if (fstat(src, &src_sb) != 0) {
    RecordError(st, -errno);
  } else if (OverReadLimit(0, static_cast<uint64_t>(src_sb.st_size))) {
    RecordError(st, -E2BIG);
  } else {
    st.file2 = OpenTempBeside(op, op->dst_path);
  }
  if (st.error.load(std::memory_order_relaxed) != 0) {
    Finish(op, worker);
    return;
  }
  st.next_offset = 0;
  st.end_offset = static_cast<uint64_t>(src_sb.st_size);
  IssueChunks(op, worker);
}

void EngineCore::StartFsync(Op* op, int worker) {
  int fd = Open(op, op->path, O_RDONLY, 0, Want::kRegularOrDirectory);
  if (fd < 0) {
    RecordError(op->state, fd);
    Finish(op, worker);
    return;
  }
  op->state.file = std::make_shared<File>(fd);
  IssueIo(op, op->data_only ? ChunkIo::Kind::kFdatasync : ChunkIo::Kind::kFsync, fd,
          worker);
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
  const bool is_read = TypeInfo(op->type).reads_file;
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
    // A read into the caller's buffer holds no memory of the server's.
    const bool to_buffer = is_read && op->buffer != nullptr;
    if (is_read && !to_buffer && !op->credit->TakeOrPark(len, op)) return;

    auto* io = new ChunkIo;
    io->op = op;
    io->op_id = st.id;
    io->fd = st.file->fd();
    io->offset = st.next_offset;
    io->len = len;
    io->index = st.chunks_issued++;
    if (is_read) {
      io->kind = op->type == OpType::kCopy ? ChunkIo::Kind::kCopyRead : ChunkIo::Kind::kRead;
      io->credit_bytes = to_buffer ? 0 : len;
      if (to_buffer) {
        // Straight into the caller's memory; O_DIRECT lengths round up
        // inside the room StartRead checked.
        io->buf = op->buffer + (st.next_offset - op->offset);
        if (op->direct) io->len = (len + kDirectAlign - 1) / kDirectAlign * kDirectAlign;
      } else if (op->direct) {
        io->len = (len + kDirectAlign - 1) / kDirectAlign * kDirectAlign;
        io->aligned.reset(static_cast<char*>(aligned_alloc(kDirectAlign, io->len)));
        io->buf = io->aligned.get();
      } else {
        io->data = chunk_buffers_->Take(len);
        io->buf = io->data.data();
      }
    } else {
      io->kind = ChunkIo::Kind::kWrite;
      io->buf = const_cast<char*>(WriteData(*op).data()) + (st.next_offset - op->offset);
      if (append) io->offset = ChunkIo::kAtEnd;
    }
    st.next_offset += len;
    st.refs.fetch_add(1, std::memory_order_relaxed);
    Push((st.home_worker + io->index) % workers(), &io->task);
  }
  DropRef(op, worker);
}

void EngineCore::IssueIo(Op* op, ChunkIo::Kind kind, int fd, int worker) {
  auto* io = new ChunkIo;
  io->kind = kind;
  io->op = op;
  io->op_id = op->state.id;
  io->fd = fd;
  op->state.refs.store(1, std::memory_order_relaxed);
  Push(worker, &io->task);
}

namespace {

// Accounts for one transfer of a read (plain or a copy's): returns true
// when the IO must go again for the rest (a short read). A read that ends
// early (0 bytes, or any short O_DIRECT read: the rest cannot be read at an
// unaligned offset) means the file shrank after it was sized: nothing is
// issued past that point, and what was read counts.
bool ReadProgress(ChunkIo* io, int64_t res) {
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

namespace {

// What a failed transfer means, errno by errno (STYLE.md: every errno on
// purpose):
//   EINTR, EAGAIN   the kernel asks again: resubmit the same transfer
//   EBADF, EFAULT   our own fd or buffer was bad: a bug in the engine.
//                   Asserted in debug builds; in release the op fails
//                   with it (the server must not fall over for one op)
//   ECANCELED       the IO was cancelled in the kernel: the op's cancel
//   anything else   the op's error, reported as it is (EIO, ENOSPC,
//                   EFBIG, EISDIR, ...); never retried
enum class ErrnoPolicy { kResubmit, kBug, kOpError };

ErrnoPolicy PolicyOf(int64_t res) {
  switch (-res) {
    case EINTR:
    case EAGAIN:
      return ErrnoPolicy::kResubmit;
    case EBADF:
    case EFAULT:
      return ErrnoPolicy::kBug;
    default:
      return ErrnoPolicy::kOpError;
  }
}

}  // namespace

bool EngineCore::CompleteIo(ChunkIo* io, int64_t res, int worker) {
  if (res < 0) {
    const ErrnoPolicy policy = PolicyOf(res);
    if (policy == ErrnoPolicy::kResubmit) return true;
    assert(policy != ErrnoPolicy::kBug && "EBADF/EFAULT on the engine's own fd or buffer");
  }
  Op* op = io->op;
  internal::OpState& st = op->state;
  switch (io->kind) {
    case ChunkIo::Kind::kRead:
      if (ReadProgress(io, res)) return true;
      FinishReadChunk(io);
      break;
    case ChunkIo::Kind::kCopyRead:
      if (ReadProgress(io, res)) return true;
      if (st.error.load(std::memory_order_relaxed) == 0 && io->done != 0) {
        // The bytes are in hand: the same ChunkIo now writes them out.
        st.crc.Add(io->index, Crc32c(io->buf, io->done), io->done, chunk_crc_combiner_);
        io->kind = ChunkIo::Kind::kWrite;
        io->fd = st.file2->fd();
        io->len = io->done;
        io->done = 0;
        return true;
      }
      op->credit->Release(io->credit_bytes);
      break;
    case ChunkIo::Kind::kWrite:
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
    case ChunkIo::Kind::kFsync:
    case ChunkIo::Kind::kFdatasync:
      // Never retried: after a failed fsync the kernel may have dropped the
      // dirty pages, and a second fsync would report a false success.
      if (res < 0) RecordError(st, static_cast<int>(res));
      break;
  }
  delete io;
  DropRef(op, worker);
  return false;
}

void EngineCore::FinishReadChunk(ChunkIo* io) {
  Op* op = io->op;
  internal::OpState& st = op->state;
  // An O_DIRECT IO may read past the chunk (its length is rounded up).
  const bool to_buffer = op->buffer != nullptr;
  const uint64_t chunk_len = to_buffer ? ChunkLen(*op, io->offset) : io->credit_bytes;
  uint64_t n = std::min(io->done, chunk_len);
  uint32_t crc = n != 0 ? Crc32c(io->buf, n) : 0;
  st.crc.Add(io->index, crc, n, chunk_crc_combiner_);
  st.bytes_done.fetch_add(n, std::memory_order_relaxed);
  bool deliver = op->deliver_data && n != 0 &&
                 st.error.load(std::memory_order_relaxed) == 0 &&
                 !op->cancelled.load(std::memory_order_relaxed);
  if (to_buffer) {
    if (deliver) op->sink->OnBufferChunk(*op, io->offset, n, crc);
    return;
  }
  uint64_t release = io->credit_bytes - n;
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

}  // namespace overlapd::io
