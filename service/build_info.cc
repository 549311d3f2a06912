#include "service/build_info.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "service/build_info_gen.h"  // generated in the build tree

namespace overlapd {

absl::string_view BuildVersion() { return OVERLAPD_BUILD_VERSION; }
absl::string_view BuildCommit() { return OVERLAPD_BUILD_COMMIT; }

std::string VersionText() {
  return absl::StrCat("overlapd ", BuildVersion(), " (commit ", BuildCommit(),
                      "; engines: uring, threads; gRPC ", grpc::Version(), ")");
}

}  // namespace overlapd
