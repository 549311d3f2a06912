// Start-up recovery of what a crash can leave in the root.
#ifndef OVERLAPD_IOENGINE_RECOVERY_H_
#define OVERLAPD_IOENGINE_RECOVERY_H_

#include <cstddef>
#include <string>

namespace overlapd::io {

// Removes the temp files of atomic replaces (".NAME.overlapd-tmp-HEX") that
// a killed server left anywhere under `root`, without following symlinks.
// Their targets are intact: a replace renames its temp file over the target
// only once complete. Returns how many were removed; errors on single
// entries are skipped (the walk goes on).
size_t RemoveStrayTempFiles(const std::string& root);

}  // namespace overlapd::io

#endif  // OVERLAPD_IOENGINE_RECOVERY_H_
