#include "service/status_util.h"

#include <errno.h>
#include <string.h>

namespace overlapd {

absl::StatusCode CodeForErrno(int err) {
  switch (err) {
    case 0: return absl::StatusCode::kOk;
    case ENOENT: return absl::StatusCode::kNotFound;
    case EEXIST: return absl::StatusCode::kAlreadyExists;
    case EACCES:
    case EPERM:
    case EXDEV: return absl::StatusCode::kPermissionDenied;
    case E2BIG:
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
    case ENOMEM: return absl::StatusCode::kResourceExhausted;
    case ELOOP:  // a symlink loop inside the root (escapes say EXDEV)
    case ESPIPE:  // io::ENOTREG: a FIFO, socket or device
    case EISDIR:
    case ENOTDIR:
    case ENOTEMPTY:
    case EROFS:
    case ETXTBSY:
    case EBUSY: return absl::StatusCode::kFailedPrecondition;
    case EINVAL:
    case ENAMETOOLONG: return absl::StatusCode::kInvalidArgument;
    case EFBIG:
    case EOVERFLOW: return absl::StatusCode::kOutOfRange;
    case EIO:
    case EBADMSG: return absl::StatusCode::kDataLoss;
    case ECANCELED: return absl::StatusCode::kCancelled;
    case ETIMEDOUT: return absl::StatusCode::kDeadlineExceeded;
    case EAGAIN: return absl::StatusCode::kUnavailable;
    case ENOSYS:
    case EOPNOTSUPP: return absl::StatusCode::kUnimplemented;
    default: return absl::StatusCode::kInternal;
  }
}

std::string ErrnoMessage(std::string_view op, std::string_view path, int err) {
  std::string msg(op);
  msg += " \"";
  msg += path;
  msg += "\": ";
  switch (err) {
    case EXDEV: msg += "path leads outside the server root"; break;
    case ELOOP: msg += "too many levels of symbolic links (a loop?)"; break;
    case ESPIPE: msg += "not a regular file (a FIFO, socket or device)"; break;
    case E2BIG: msg += "range is over the server's --max-read-bytes; read it in parts"; break;
    case EBADMSG: msg += "data does not match expected_crc32c"; break;
    case EOVERFLOW: msg += "the file has more bytes than the shared buffer has room for"; break;
    case ECANCELED: msg += "cancelled"; break;
    default: msg += strerror(err); break;
  }
  return msg;
}

}  // namespace overlapd
