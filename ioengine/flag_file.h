// Small files that a command-line flag names (a PEM certificate, a token
// file), read whole, with errors that name the flag: the one reader the
// server and the clients share.
//
// Example:
//
//   absl::StatusOr<std::string> pem =
//       ReadFlagFile("--tls-cert", path, FlagFile::kNonEmpty);
//   // INVALID_ARGUMENT "--tls-cert /etc/x.pem: cannot be read" when missing
#ifndef OVERLAPD_IOENGINE_FLAG_FILE_H_
#define OVERLAPD_IOENGINE_FLAG_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace overlapd {

enum class FlagFile {
  kMayBeEmpty,
  kNonEmpty,  // an empty file is as unusable as a missing one (PEM)
};

// The contents of `path`, which flag `flag` named. INVALID_ARGUMENT
// "FLAG PATH: cannot be read" when it cannot be opened or read, and
// "FLAG PATH: is empty" when `kind` is kNonEmpty and it is.
absl::StatusOr<std::string> ReadFlagFile(absl::string_view flag, const std::string& path,
                                         FlagFile kind = FlagFile::kMayBeEmpty);

}  // namespace overlapd

#endif  // OVERLAPD_IOENGINE_FLAG_FILE_H_
