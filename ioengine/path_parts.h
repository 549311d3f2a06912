// A relative path as its components, after the normalisation the sandbox
// applies to it. Shared by the token prefixes (service/auth.h) and the
// placement map's prefixes (proto/overlapd/v1/placement_map.h), server and
// client alike.
#ifndef OVERLAPD_IOENGINE_PATH_PARTS_H_
#define OVERLAPD_IOENGINE_PATH_PARTS_H_

#include <vector>

#include "absl/strings/string_view.h"

namespace overlapd {

// The components of `path` after "." and empty components are dropped and
// each ".." takes one back; false when a ".." climbs above the start.
//   NormalisePath("a/./b//../c", &parts)  => true, parts {"a", "c"}
bool NormalisePath(absl::string_view path, std::vector<absl::string_view>* parts);

}  // namespace overlapd

#endif  // OVERLAPD_IOENGINE_PATH_PARTS_H_
