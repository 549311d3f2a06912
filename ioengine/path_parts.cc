#include "ioengine/path_parts.h"

#include "absl/strings/str_split.h"

namespace overlapd {

bool NormalisePath(absl::string_view path, std::vector<absl::string_view>* parts) {
  parts->clear();
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (parts->empty()) return false;
      parts->pop_back();
    } else {
      parts->push_back(part);
    }
  }
  return true;
}

}  // namespace overlapd
