#include "clients/cpp/remote_tree.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "clients/cpp/client_internal.h"
#include "ioengine/status_macros.h"

namespace overlapd {
namespace cli {
namespace {

absl::string_view StripSlashes(absl::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return path;
}

// Runs Delete ops for `paths` (all files, or all directories) in batches of
// at most `per_batch`, and checks that each one reports DELETE_COMPLETE.
absl::Status DeleteAll(Client& client, const std::vector<std::string>& paths,
                       bool directories, size_t per_batch) {
  for (size_t first = 0; first < paths.size(); first += per_batch) {
    v1::Batch batch;
    const size_t n = std::min(per_batch, paths.size() - first);
    for (size_t i = 0; i < n; ++i) {
      v1::Op* op = batch.add_ops();
      op->set_tag(i);
      op->mutable_delete_()->set_path(paths[first + i]);
      op->mutable_delete_()->set_directory(directories);
    }
    size_t deleted = 0;
    absl::Status failed;
    OVERLAPD_RETURN_IF_ERROR(client.Execute(batch, [&](const v1::Event& event) {
      if (internal::IsFailure(event)) failed.Update(internal::EventStatus(event));
      if (event.type() == v1::DELETE_COMPLETE) ++deleted;
    }));
    OVERLAPD_RETURN_IF_ERROR(failed);
    if (deleted != n) {
      return absl::InternalError(
          absl::StrFormat("%d of %d deletes reported completion", deleted, n));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string JoinPath(absl::string_view dir, absl::string_view name) {
  dir = StripSlashes(dir);
  if (dir.empty() || dir == ".") return std::string(name);
  if (dir == "/") return absl::StrCat("/", name);
  return absl::StrCat(dir, "/", name);
}

std::string BaseName(absl::string_view path) {
  path = StripSlashes(path);
  const size_t slash = path.rfind('/');
  return std::string(slash == absl::string_view::npos ? path : path.substr(slash + 1));
}

std::string TargetPath(absl::string_view src, absl::string_view dst, bool dst_is_dir) {
  if (dst_is_dir || (!dst.empty() && dst.back() == '/')) return JoinPath(dst, BaseName(src));
  return std::string(StripSlashes(dst));
}

absl::StatusOr<bool> IsRemoteDir(Client& client, const std::string& path) {
  OVERLAPD_ASSIGN_OR_RETURN(auto stat, client.Stat({path}));
  if (stat[0].status().code() == absl::StatusCode::kNotFound) return false;
  OVERLAPD_RETURN_IF_ERROR(stat[0].status());
  return stat[0]->type() == v1::FILE_TYPE_DIRECTORY;
}

absl::StatusOr<std::vector<TreeEntry>> ListTree(Client& client, const std::string& dir) {
  std::vector<TreeEntry> out;
  // Directories still to list, as paths relative to `dir`; depth first.
  std::vector<std::string> pending = {""};
  while (!pending.empty()) {
    const std::string rel = std::move(pending.back());
    pending.pop_back();
    OVERLAPD_ASSIGN_OR_RETURN(std::vector<v1::FileInfo> entries,
                             client.List(rel.empty() ? dir : JoinPath(dir, rel)));
    std::vector<std::string> subdirs;
    for (v1::FileInfo& entry : entries) {
      TreeEntry item{rel.empty() ? entry.name() : JoinPath(rel, entry.name()),
                     std::move(entry)};
      if (item.info.type() == v1::FILE_TYPE_DIRECTORY) subdirs.push_back(item.path);
      out.push_back(std::move(item));
    }
    // Reversed onto the stack, so they come off in name order.
    pending.insert(pending.end(), subdirs.rbegin(), subdirs.rend());
  }
  // Listing order is per level; sort so a directory precedes its contents
  // and siblings stay in name order ("a", "a/x", "b").
  std::sort(out.begin(), out.end(), [](const TreeEntry& a, const TreeEntry& b) {
    return std::lexicographical_compare(
        a.path.begin(), a.path.end(), b.path.begin(), b.path.end(), [](char x, char y) {
          // '/' sorts first, so "a/x" comes before "a.txt".
          return (x == '/' ? '\0' : x) < (y == '/' ? '\0' : y);
        });
  });
  return out;
}

absl::Status DeleteTree(Client& client, const std::string& path) {
  OVERLAPD_ASSIGN_OR_RETURN(const bool is_dir, IsRemoteDir(client, path));
  if (!is_dir) return client.Delete(path);
  OVERLAPD_ASSIGN_OR_RETURN(std::vector<TreeEntry> tree, ListTree(client, path));
  std::vector<std::string> files, dirs;
  for (const TreeEntry& entry : tree) {
    (entry.info.type() == v1::FILE_TYPE_DIRECTORY ? dirs : files)
        .push_back(JoinPath(path, entry.path));
  }
  OVERLAPD_ASSIGN_OR_RETURN(v1::Capabilities caps, client.Capabilities());
  const size_t per_batch = std::max<uint32_t>(caps.max_ops_per_batch(), 1);
  OVERLAPD_RETURN_IF_ERROR(DeleteAll(client, files, false, per_batch));
  // Deepest first: a directory is empty once its subdirectories are gone.
  std::sort(dirs.begin(), dirs.end(), [](const std::string& a, const std::string& b) {
    return std::count(a.begin(), a.end(), '/') > std::count(b.begin(), b.end(), '/');
  });
  for (const std::string& dir : dirs) {
    OVERLAPD_RETURN_IF_ERROR(DeleteAll(client, {dir}, true, 1));
  }
  return client.Delete(path, /*directory=*/true);
}

}  // namespace cli
}  // namespace overlapd
