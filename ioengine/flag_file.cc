#include "ioengine/flag_file.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace overlapd {

absl::StatusOr<std::string> ReadFlagFile(absl::string_view flag, const std::string& path,
                                         FlagFile kind) {
  std::error_code ec;
  std::ifstream in(path);
  std::stringstream text;
  if (in) text << in.rdbuf();
  // A directory opens as a stream, and its read fails on the stream read
  // into (no characters), which an empty file does too: ask the file system.
  if (!in || in.bad() || std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": cannot be read"));
  }
  if (kind == FlagFile::kNonEmpty && text.str().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": is empty"));
  }
  return text.str();
}

}  // namespace overlapd
