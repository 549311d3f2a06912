#include "ioengine/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <algorithm>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace overlapd::io {

absl::Status CheckRelativePath(std::string_view path, std::string_view field_view) {
  // Debian's Abseil has its own string_view type; StrCat takes std::string.
  const std::string field(field_view);
  if (path.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": path contains a NUL byte"));
  }
  if (path.size() > kMaxPathBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": path is ", path.size(), " bytes, over the limit of ",
        kMaxPathBytes));
  }
  if (!path.empty() && path.front() == '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": absolute path \"", std::string(path),
        "\" refused; paths are relative to the server root"));
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end - start > kMaxNameBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": path component is ", end - start,
          " bytes, over the limit of ", kMaxNameBytes));
    }
    start = end + 1;
  }
  return absl::OkStatus();
}

namespace {

long OpenHow(int dir_fd, const std::string& path, int flags, mode_t mode, uint64_t resolve) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  // The kernel refuses a mode without O_CREAT/O_TMPFILE.
  how.mode = (flags & (O_CREAT | __O_TMPFILE)) ? mode : 0;
  how.resolve = resolve;
  for (;;) {
    long fd = syscall(SYS_openat2, dir_fd, path.c_str(), &how, sizeof(how));
    if (fd >= 0) return fd;
    // openat2 returns EAGAIN when a rename or mount raced the RESOLVE_BENEATH
    // walk (fs/namei.c, LOOKUP_BENEATH and the rename seqlock): just retry.
    if (errno == EAGAIN || errno == EINTR) continue;
    return -errno;
  }
}

}  // namespace

bool LexicallyEscapes(std::string_view path) {
  int depth = 0;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part == "..") {
      if (--depth < 0) return true;
    } else if (!part.empty() && part != ".") {
      ++depth;
    }
    start = end + 1;
  }
  return false;
}

int OpenBeneath(int root_fd, std::string_view path, int flags, mode_t mode) {
  const std::string p = path.empty() ? std::string(".") : std::string(path);
  long fd = OpenHow(root_fd, p, flags, mode, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
  if (fd >= 0) return static_cast<int>(fd);
  if ((fd == -ENOENT || fd == -ENOTDIR) && LexicallyEscapes(path)) return -EXDEV;
  if (fd == -ELOOP) {
    // A symlink loop and a refused magic link both say ELOOP. Tell them
    // apart without the magic-link rule (O_PATH opens nothing's contents):
    // a loop still fails.
    // (RESOLVE_BENEATH alone refuses a magic link with EXDEV).
    long probe = OpenHow(root_fd, p, O_PATH, 0, RESOLVE_BENEATH);
    if (probe >= 0) close(static_cast<int>(probe));
    return probe == -ELOOP ? -ELOOP : -EXDEV;
  }
  return static_cast<int>(fd);
}

int OpenChecked(int root_fd, std::string_view path, int flags, mode_t mode, Want want) {
  int fd = OpenBeneath(root_fd, path, flags | O_NONBLOCK, mode);
  // open(2): O_NONBLOCK | O_WRONLY on a FIFO that no one reads.
  if (fd == -ENXIO) return -ENOTREG;
  if (fd < 0) return fd;
  struct stat sb;
  int err = 0;
  if (fstat(fd, &sb) != 0) {
    err = errno;
  } else if (S_ISDIR(sb.st_mode)) {
    if (want != Want::kRegularOrDirectory) err = EISDIR;
  } else if (!S_ISREG(sb.st_mode)) {
    err = ENOTREG;
  } else if ((flags & O_NONBLOCK) == 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
    // io_uring would answer EAGAIN instead of waiting for the disk.
    err = errno;
  }
  if (err != 0) {
    close(fd);
    return -err;
  }
  return fd;
}

bool RestUnderBase(std::string_view base, std::string_view path, std::string_view* rest) {
  while (!path.empty() && (path.front() == '/' || path.substr(0, 2) == "./")) {
    path.remove_prefix(path.front() == '/' ? 1 : 2);
  }
  if (path.substr(0, base.size()) != base ||
      (path.size() > base.size() && path[base.size()] != '/')) {
    return false;
  }
  *rest = path.substr(base.size());
  while (!rest->empty() && (rest->front() == '/' || *rest == "." || rest->substr(0, 2) == "./")) {
    rest->remove_prefix(rest->front() == '/' ? 1 : std::min<size_t>(rest->size(), 2));
  }
  return true;
}

int OpenBaseDir(int root_fd, std::string_view base, std::string_view path,
                std::string_view* rest) {
  if (!RestUnderBase(base, path, rest)) return -EXDEV;
  long fd = OpenHow(root_fd, std::string(base), O_PATH | O_DIRECTORY, 0,
                    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
  // A symlink or non-directory where the prefix should be: nothing of the
  // token's lies there.
  if (fd == -ELOOP || fd == -ENOTDIR) return -EXDEV;
  return static_cast<int>(fd);
}

int OpenParentBeneath(int root_fd, std::string_view path, std::string* leaf) {
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  std::string_view dir =
      slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
  std::string_view name =
      slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (name.empty() || name == "." || name == "..") return -EINVAL;
  *leaf = std::string(name);
  return OpenBeneath(root_fd, dir, O_RDONLY | O_DIRECTORY);
}

}  // namespace overlapd::io
