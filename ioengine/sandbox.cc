#include "ioengine/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
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

int OpenBeneath(int root_fd, std::string_view path, int flags, mode_t mode) {
  std::string p = path.empty() ? std::string(".") : std::string(path);
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  // The kernel refuses a mode without O_CREAT/O_TMPFILE.
  how.mode = (flags & (O_CREAT | __O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  for (;;) {
    long fd = syscall(SYS_openat2, root_fd, p.c_str(), &how, sizeof(how));
    if (fd >= 0) return static_cast<int>(fd);
    // openat2 returns EAGAIN when a rename or mount raced the RESOLVE_BENEATH
    // walk (fs/namei.c, LOOKUP_BENEATH and the rename seqlock): just retry.
    if (errno == EAGAIN || errno == EINTR) continue;
    return -errno;
  }
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
