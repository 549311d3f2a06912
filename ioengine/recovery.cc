#include "ioengine/recovery.h"

#include <filesystem>
#include <system_error>

#include "ioengine/engine.h"

namespace overlapd::io {

namespace fs = std::filesystem;

size_t RemoveStrayTempFiles(const std::string& root) {
  size_t removed = 0;
  std::error_code ec;
  fs::recursive_directory_iterator it(
      root, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() < 2 || name[0] != '.' ||
        name.find(kTempMarker) == std::string::npos) {
      continue;
    }
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec) || it->is_symlink(type_ec)) continue;
    std::error_code rm_ec;
    if (fs::remove(it->path(), rm_ec)) ++removed;
  }
  return removed;
}

}  // namespace overlapd::io
