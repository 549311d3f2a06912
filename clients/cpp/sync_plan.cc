#include "clients/cpp/sync_plan.h"

#include <set>

namespace overlapd {
namespace cli {

SyncPlan PlanSync(const SyncTree& src, const SyncTree& dst, bool delete_extra) {
  SyncPlan plan;
  for (const auto& [path, entry] : src) {
    auto there = dst.find(path);
    if (there == dst.end()) {
      (entry.dir ? plan.mkdirs : plan.copy).push_back(path);
    } else if (there->second.dir != entry.dir) {
      plan.conflicts.push_back(path);
    } else if (!entry.dir) {
      (there->second.size == entry.size ? plan.compare : plan.copy).push_back(path);
    }
  }
  if (!delete_extra) return plan;
  // A removed directory takes its contents with it.
  std::set<std::string> removed_dirs;
  auto under_removed = [&](const std::string& path) {
    for (size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      if (removed_dirs.count(path.substr(0, slash)) != 0) return true;
    }
    return false;
  };
  for (const auto& [path, entry] : dst) {
    if (src.count(path) != 0 || under_removed(path)) continue;
    plan.remove.push_back(path);
    if (entry.dir) removed_dirs.insert(path);
  }
  return plan;
}

}  // namespace cli
}  // namespace overlapd
