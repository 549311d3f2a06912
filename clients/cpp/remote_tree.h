// Remote paths for the CLI: joining, base names, "into the directory"
// targets, and walking a remote tree. Internal to clients/cpp.
#ifndef OVERLAPD_CLIENTS_CPP_REMOTE_TREE_H_
#define OVERLAPD_CLIENTS_CPP_REMOTE_TREE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "clients/cpp/client.h"

namespace overlapd {
namespace cli {

// "a/b" + "c" -> "a/b/c"; "" or "." + "c" -> "c"; trailing slashes of `dir`
// are dropped.
std::string JoinPath(absl::string_view dir, absl::string_view name);

// The last component: "a/b/c" -> "c", "a/b/" -> "b", "c" -> "c".
std::string BaseName(absl::string_view path);

// Where `src` lands when copied to `dst`, cp(1)-style: into `dst` when it
// ends with '/' or `dst_is_dir`, else `dst` itself (trailing '/' dropped).
std::string TargetPath(absl::string_view src, absl::string_view dst, bool dst_is_dir);

// Whether remote `path` is a directory: false when it does not exist; the
// Stat's error otherwise (a refused path stays refused).
absl::StatusOr<bool> IsRemoteDir(Client& client, const std::string& path);

struct TreeEntry {
  std::string path;  // relative to the walked directory, "/"-separated
  v1::FileInfo info;
};

// Every entry under remote `dir`, depth first, a directory before its
// contents, names sorted within a directory.
absl::StatusOr<std::vector<TreeEntry>> ListTree(Client& client, const std::string& dir);

// Deletes remote `path`: a file, or a directory with everything under it
// (files in one batch per directory, then the directories deepest first).
// Each op's terminal event is checked; the first failure stops the walk.
absl::Status DeleteTree(Client& client, const std::string& path);

}  // namespace cli
}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_REMOTE_TREE_H_
