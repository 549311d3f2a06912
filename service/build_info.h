// What was built: the version (CMake's project version) and the git commit
// of the tree it was built from ("-dirty" when it had uncommitted changes,
// "unknown" outside a git checkout unless -DOVERLAPD_COMMIT=... was given),
// for `overlapd --version`, the start-up line and overlapd_build_info.
#ifndef OVERLAPD_SERVICE_BUILD_INFO_H_
#define OVERLAPD_SERVICE_BUILD_INFO_H_

#include <string>
#include "absl/strings/string_view.h"

namespace overlapd {

absl::string_view BuildVersion();  // "0.1.0"
absl::string_view BuildCommit();   // "95b114d1a2b3", "95b114d1a2b3-dirty", "unknown"

// `overlapd --version`:
//   overlapd 0.1.0 (commit 95b114d1a2b3; engines: uring, threads; gRPC 1.51.1)
std::string VersionText();

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_BUILD_INFO_H_
