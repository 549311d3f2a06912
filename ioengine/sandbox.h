// Path rules of the --root sandbox.
//
// Two layers: CheckRelativePath refuses what is malformed on its face
// (absolute, NUL, over-long) so the caller can fail a batch before any IO;
// OpenBeneath then lets the kernel resolve the path with RESOLVE_BENEATH, which
// refuses ".." escapes and symlinks that leave the root whatever their
// spelling. The string check is a courtesy for clear errors; the kernel check
// is the security boundary.
#ifndef OVERLAPD_IOENGINE_SANDBOX_H_
#define OVERLAPD_IOENGINE_SANDBOX_H_

#include <sys/types.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace overlapd::io {

inline constexpr size_t kMaxPathBytes = 4096;  // PATH_MAX
inline constexpr size_t kMaxNameBytes = 255;   // NAME_MAX

// Returns OK when `path` may name something under the root: relative, no NUL
// byte, at most kMaxPathBytes, no component over kMaxNameBytes. The empty
// path and "." name the root itself. ".." is left to the kernel (a "a/../b"
// that stays inside is fine). `field` names the request field in the error:
//
//   CheckRelativePath("/etc/passwd", "ops[0].read.path")
//     => INVALID_ARGUMENT "ops[0].read.path: absolute path ..."
absl::Status CheckRelativePath(std::string_view path, std::string_view field);

// Opens `path` relative to `root_fd` with openat2(2) and
// RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, retrying EAGAIN (the kernel asks
// for a retry when a concurrent rename races the lookup). Returns the fd or
// -errno: EXDEV for a path that escapes the root, ELOOP for a magic link.
// An empty path opens the root itself.
int OpenBeneath(int root_fd, std::string_view path, int flags, mode_t mode = 0);

// Opens the parent directory of `path` beneath the root and stores the last
// component in `*leaf`, for the calls that act on a name (rename, unlink,
// mkdir, fsync of a directory entry). Returns the directory fd or -errno;
// a path whose last component is "." or ".." gets -EINVAL.
int OpenParentBeneath(int root_fd, std::string_view path, std::string* leaf);

}  // namespace overlapd::io

#endif  // OVERLAPD_IOENGINE_SANDBOX_H_
