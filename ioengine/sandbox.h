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

#include <errno.h>
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
// -errno: EXDEV for a path that escapes the root (also when a missing
// directory hides the escape from the kernel: "nope/../../b" would say
// ENOENT) or names a magic link, ELOOP for a symlink loop inside the root.
// An empty path opens the root itself.
int OpenBeneath(int root_fd, std::string_view path, int flags, mode_t mode = 0);

// Whether ".." components take `path` above its start, read as text (the
// kernel's RESOLVE_BENEATH is the boundary; this names the error right).
bool LexicallyEscapes(std::string_view path);

// What an opened path may be. Reads, writes and copies take regular files
// only: a FIFO or device could block a worker or change state on open.
enum class Want : uint8_t { kRegular, kRegularOrDirectory };

// Opens `path` like OpenBeneath, without blocking (O_NONBLOCK for the open
// alone: a FIFO without a peer would block it), and checks what it opened:
// -EISDIR for a directory where a file is wanted, -ENOTREG (see below) for
// a FIFO, socket or device.
int OpenChecked(int root_fd, std::string_view path, int flags, mode_t mode, Want want);

// The error of an open that found something other than a regular file or
// directory. Linux has no errno for it; ESPIPE is what pread(2) on a pipe
// says, and no regular file ever returns it.
inline constexpr int ENOTREG = ESPIPE;

// Where a token limited to a path prefix resolves: its prefix directory,
// opened beneath the root without following any symlink, and the rest of
// each path beneath that (so symlinks inside the prefix cannot lead out).
// Returns the directory fd or -errno; `rest` gets `path` without the prefix
// (the path must lie under it: the service checks that first, else -EXDEV).
// `path` without `base` and the slashes and "." components after it ("" when
// the path names the base itself), or false when it does not lie under base.
bool RestUnderBase(std::string_view base, std::string_view path, std::string_view* rest);

int OpenBaseDir(int root_fd, std::string_view base, std::string_view path,
                std::string_view* rest);

// Opens the parent directory of `path` beneath the root and stores the last
// component in `*leaf`, for the calls that act on a name (rename, unlink,
// mkdir, fsync of a directory entry). Returns the directory fd or -errno;
// a path whose last component is "." or ".." gets -EINVAL.
int OpenParentBeneath(int root_fd, std::string_view path, std::string* leaf);

}  // namespace overlapd::io

#endif  // OVERLAPD_IOENGINE_SANDBOX_H_
