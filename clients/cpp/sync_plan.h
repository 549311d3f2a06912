// What `overlap sync` does, decided from two directory listings (no IO), so
// that it can be tested on its own. Internal to clients/cpp.
#ifndef OVERLAPD_CLIENTS_CPP_SYNC_PLAN_H_
#define OVERLAPD_CLIENTS_CPP_SYNC_PLAN_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace overlapd {
namespace cli {

struct SyncEntry {
  uint64_t size = 0;
  bool dir = false;
};
// Relative path ("a/b.txt") -> entry, for one side of the sync.
using SyncTree = std::map<std::string, SyncEntry>;

struct SyncPlan {
  std::vector<std::string> mkdirs;    // directories of SRC missing in DST
  std::vector<std::string> copy;      // files missing in DST or of another size
  std::vector<std::string> compare;   // same size on both sides: CRC32C decides
  std::vector<std::string> remove;    // only in DST (with --delete): topmost paths
  std::vector<std::string> conflicts; // a file on one side, a directory on the other
};

// Plans a sync of `src` onto `dst`; with `delete_extra`, what DST has and
// SRC lacks is removed (a directory once, not also its contents). Every list
// is sorted, so a directory comes before what is in it.
SyncPlan PlanSync(const SyncTree& src, const SyncTree& dst, bool delete_extra);

}  // namespace cli
}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_SYNC_PLAN_H_
