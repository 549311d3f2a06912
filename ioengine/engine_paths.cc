// EngineCore: opening paths beneath the root (or a token's prefix), the temp
// files of atomic replaces and copies, and the path ops (rename, delete,
// mkdir, stat, list). Path ops run on the metadata lane; each returns its
// result in op->state.error.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "ioengine/engine_core.h"
#include "ioengine/sandbox.h"

namespace overlapd::io {

using internal::RecordError;

namespace {

constexpr uint32_t kDefaultListLimit = 1000;

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

int EngineCore::InBase(const Op* op, std::string_view path,
                       absl::FunctionRef<int(int dir_fd, std::string_view rest)> open) {
  // The engine's own budget of descriptors (File objects; the directory
  // fds an op holds for a moment are covered by the reserve main.cc keeps).
  const auto over_budget = [this] {
    return options_.max_open_files != 0 &&
           File::open_count() >= static_cast<int64_t>(options_.max_open_files);
  };
  if (over_budget() && (fd_cache_.Shed(0.5) == 0 || over_budget())) return -EMFILE;
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

// Creates the temp file of an atomic replace or a copy beside its target,
// with O_EXCL in the target's own directory so that the final rename stays
// on one filesystem and cannot follow a link. What the target is now must
// be something a file may replace: nothing, a regular file or a symlink
// (replaced itself, not followed).
std::shared_ptr<File> EngineCore::OpenTempBeside(Op* op, std::string_view target) {
  internal::OpState& st = op->state;
  std::string leaf;
  int dir_fd = OpenParent(op, target, &leaf);
  if (dir_fd < 0) {
    RecordError(st, dir_fd);
    return nullptr;
  }
  st.dir_fd = dir_fd;
  struct stat sb;
  if (fstatat(dir_fd, leaf.c_str(), &sb, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(sb.st_mode) &&
      !S_ISLNK(sb.st_mode)) {
    RecordError(st, S_ISDIR(sb.st_mode) ? -EISDIR : -ENOTREG);
    return nullptr;
  }
  // 64 random bits: a collision (EEXIST) is as good as impossible, but a
  // retry costs nothing.
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string name = temp_namer_->Mint(leaf, TempKind::kAtomic);
    int fd = openat(dir_fd, name.c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0) {
      st.temp_name = std::move(name);
      return std::make_shared<File>(fd);
    }
    if (errno != EEXIST) {
      RecordError(st, -errno);
      return nullptr;
    }
  }
  RecordError(st, -EEXIST);
  return nullptr;
}

bool EngineCore::RenameTempOverTarget(Op* op) {
  internal::OpState& st = op->state;
  const std::string& target = op->type == OpType::kCopy ? op->dst_path : op->path;
  size_t slash = target.find_last_of('/');
  const std::string leaf = target.substr(slash == std::string::npos ? 0 : slash + 1);
  if (renameat(st.dir_fd, st.temp_name.c_str(), st.dir_fd, leaf.c_str()) != 0) {
    RecordError(st, -errno);
    return false;
  }
  st.temp_name.clear();
  fd_cache_.Invalidate();
  return true;
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

void EngineCore::RunRename(Op* op) {
  std::string src_leaf, dst_leaf;
  int src_dir = OpenParent(op, op->path, &src_leaf);
  if (src_dir < 0) {
    RecordError(op->state, src_dir);
    return;
  }
  int dst_dir = OpenParent(op, op->dst_path, &dst_leaf);
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

// One page: the names after start_after, from the directory's sorted
// snapshot (read and sorted only when the directory changed since the
// last page, see DirSnapshotCache), each fstat()ed now. A name removed
// since the snapshot is skipped; one created since a cached snapshot
// cannot exist, as it changed the directory's version.
void EngineCore::RunList(Op* op) {
  int fd = InBase(op, op->path, [](int dir_fd, std::string_view rest) {
    return OpenBeneath(dir_fd, rest, O_RDONLY | O_DIRECTORY);
  });
  if (fd < 0) {
    RecordError(op->state, fd);
    return;
  }
  std::shared_ptr<const DirSnapshot> names;
  if (int rc = dir_snapshots_.Get(fd, &names); rc != 0) {
    RecordError(op->state, rc);
    close(fd);
    return;
  }
  size_t i = op->start_after.empty() ? 0 : names->UpperBound(op->start_after);
  uint32_t limit = op->limit == 0 ? kDefaultListLimit : op->limit;
  op->entries.clear();
  for (; i < names->size() && op->entries.size() < limit; ++i) {
    std::string name(names->name(i));
    struct stat sb;
    // One component, no symlink followed: cannot leave the directory.
    if (fstatat(fd, name.c_str(), &sb, AT_SYMLINK_NOFOLLOW) != 0) {
      continue;  // removed since the snapshot
    }
    op->entries.push_back(InfoOf(std::move(name), sb));
  }
  op->more_entries = i < names->size();
  close(fd);
}

}  // namespace overlapd::io
