#include "clients/cpp/commands_sync.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <iostream>
#include <utility>

#include <CLI/CLI.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "clients/cpp/local_file.h"
#include "clients/cpp/progress.h"
#include "clients/cpp/remote_tree.h"
#include "ioengine/status_macros.h"

namespace overlapd {
namespace cli {
namespace {

namespace fs = std::filesystem;

absl::StatusOr<uint32_t> LocalFileCrc(const std::string& path, uint64_t size) {
  internal::ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  return internal::LocalRangeCrc(fd.get(), 0, size, path);
}

}  // namespace

SyncCommand::SyncCommand(CLI::App& app, const GlobalOptions& global, Interrupts& interrupts)
    : global_(global), interrupts_(interrupts) {
  sync_ = AddCommand(
      app, "sync", "Make DST hold what SRC holds (one side local, one remote)",
      "Exactly one of SRC and DST is remote, written ':PATH' (':' alone: the\n"
      "root). Files missing in DST, or of another size, are copied; files of\n"
      "the same size are compared by CRC32C (the server computes its side\n"
      "without sending the bytes) and copied only when they differ. Each copy\n"
      "is a put or get: the old file stays intact until the new one is whole.\n"
      "--delete also removes what DST has and SRC lacks; --dry-run only says\n"
      "what would be done. Prints 'put|get|mkdir|delete PATH' per action and a\n"
      "summary; --json: {\"command\":\"sync\", \"action\", \"path\", \"bytes\"} per\n"
      "action, then {\"command\":\"sync\", \"copied\", \"unchanged\", \"deleted\",\n"
      "\"bytes\", \"dry_run\"}.");
  sync_->add_option("SRC", src_arg_, "Source directory (':PATH' when remote)")->required();
  sync_->add_option("DST", dst_arg_, "Destination directory (':PATH' when remote)")
      ->required();
  sync_->add_flag("-n,--dry-run", dry_run_, "Print what would be done, change nothing");
  sync_->add_flag("--delete", delete_, "Remove from DST what SRC does not have");
}

std::optional<absl::Status> SyncCommand::Run(Client& client) {
  if (!sync_->parsed()) return std::nullopt;
  const bool src_remote = absl::StartsWith(src_arg_, ":");
  const bool dst_remote = absl::StartsWith(dst_arg_, ":");
  if (src_remote == dst_remote) {
    return absl::InvalidArgumentError(
        "sync: exactly one of SRC and DST must be remote (':PATH')");
  }
  upload_ = dst_remote;
  local_ = upload_ ? src_arg_ : dst_arg_;
  remote_ = (upload_ ? dst_arg_ : src_arg_).substr(1);
  if (remote_.empty()) remote_ = ".";
  interrupts_.SetGraceful();
  return Sync(client);
}

absl::Status SyncCommand::Sync(Client& client) {
  OVERLAPD_ASSIGN_OR_RETURN(SyncTree local, LocalSide(local_));
  OVERLAPD_ASSIGN_OR_RETURN(SyncTree remote, RemoteSide(client, remote_));
  const SyncTree& src = upload_ ? local : remote;
  const SyncTree& dst = upload_ ? remote : local;
  SyncPlan plan = PlanSync(src, dst, delete_);
  Totals totals;
  OVERLAPD_RETURN_IF_ERROR(SortOutSameSize(client, plan, totals));
  absl::Status status = Apply(client, plan, src, totals);
  if (global_.json) {
    PrintJson({{"command", "sync"}, {"copied", U64(totals.copied)},
               {"unchanged", U64(totals.unchanged)}, {"deleted", U64(totals.deleted)},
               {"bytes", U64(totals.bytes)}, {"failed", U64(totals.failed)},
               {"dry_run", dry_run_}});
  } else {
    std::cout << absl::StrFormat("sync%s: %d copied (%s), %d unchanged, %d deleted%s\n",
                                 dry_run_ ? " (dry run)" : "", totals.copied,
                                 HumanBytes(totals.bytes), totals.unchanged, totals.deleted,
                                 totals.failed > 0 ? absl::StrCat(", ", totals.failed, " failed")
                                                   : "");
  }
  return status;
}

absl::StatusOr<SyncTree> SyncCommand::LocalSide(const std::string& dir) const {
  SyncTree tree;
  std::error_code error;
  if (!fs::exists(dir, error)) {
    if (upload_) return absl::NotFoundError(absl::StrCat(dir, ": no such directory"));
    return tree;  // a download creates it
  }
  if (!fs::is_directory(dir, error)) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": not a directory"));
  }
  fs::recursive_directory_iterator it(dir, error), end;
  for (; !error && it != end; it.increment(error)) {
    const std::string rel = fs::relative(it->path(), dir, error).generic_string();
    if (it->is_directory(error)) {
      tree[rel] = SyncEntry{0, true};
    } else if (it->is_regular_file(error)) {
      tree[rel] = SyncEntry{static_cast<uint64_t>(it->file_size(error)), false};
    }
  }
  if (error) return absl::ErrnoToStatus(error.value(), dir);
  return tree;
}

absl::StatusOr<SyncTree> SyncCommand::RemoteSide(Client& client,
                                                 const std::string& dir) const {
  SyncTree tree;
  OVERLAPD_ASSIGN_OR_RETURN(auto stat, client.Stat({dir}));
  if (stat[0].status().code() == absl::StatusCode::kNotFound && upload_) return tree;
  OVERLAPD_RETURN_IF_ERROR(stat[0].status());
  if (stat[0]->type() != v1::FILE_TYPE_DIRECTORY) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": not a directory"));
  }
  OVERLAPD_ASSIGN_OR_RETURN(std::vector<TreeEntry> entries, ListTree(client, dir));
  for (const TreeEntry& entry : entries) {
    const bool is_dir = entry.info.type() == v1::FILE_TYPE_DIRECTORY;
    if (!is_dir && entry.info.type() != v1::FILE_TYPE_REGULAR) continue;
    tree[entry.path] = SyncEntry{entry.info.size(), is_dir};
  }
  return tree;
}

// Files of the same size on both sides: copied only when the CRC32Cs differ
// (or the server's cannot be had).
absl::Status SyncCommand::SortOutSameSize(Client& client, SyncPlan& plan, Totals& totals) {
  if (plan.compare.empty()) return absl::OkStatus();
  std::vector<Client::FileRange> ranges;
  std::vector<uint64_t> sizes;
  for (const std::string& rel : plan.compare) {
    const std::string local = JoinPath(local_, rel);
    std::error_code error;
    sizes.push_back(fs::file_size(local, error));
    ranges.push_back({JoinPath(remote_, rel), 0, sizes.back()});
  }
  OVERLAPD_ASSIGN_OR_RETURN(auto remote_crcs, client.RemoteCrcs(ranges));
  for (size_t i = 0; i < plan.compare.size(); ++i) {
    absl::StatusOr<uint32_t> local_crc =
        LocalFileCrc(JoinPath(local_, plan.compare[i]), sizes[i]);
    if (remote_crcs[i].has_value() && local_crc.ok() && *local_crc == *remote_crcs[i]) {
      ++totals.unchanged;
    } else {
      plan.copy.push_back(plan.compare[i]);
    }
  }
  std::sort(plan.copy.begin(), plan.copy.end());
  return absl::OkStatus();
}

absl::Status SyncCommand::Apply(Client& client, const SyncPlan& plan, const SyncTree& src,
                                Totals& totals) {
  absl::Status first_error;
  auto note = [&](const absl::Status& status) {
    if (status.ok()) return;
    PrintError(status);
    ++totals.failed;
    first_error.Update(status);
  };
  for (const std::string& rel : plan.conflicts) {
    note(absl::FailedPreconditionError(absl::StrCat(
        rel, ": a file on one side and a directory on the other; left as it is")));
  }
  for (const std::string& rel : plan.mkdirs) {
    Report("mkdir", rel, 0);
    if (!dry_run_) note(MakeDir(client, rel));
  }
  for (const std::string& rel : plan.copy) {
    if (client.cancelled()) break;
    const uint64_t size = src.at(rel).size;
    Report(upload_ ? "put" : "get", rel, size);
    ++totals.copied;
    totals.bytes += size;
    if (!dry_run_) note(CopyOne(client, rel));
  }
  for (const std::string& rel : plan.remove) {
    if (client.cancelled()) break;
    Report("delete", rel, 0);
    ++totals.deleted;
    if (!dry_run_) note(RemoveOne(client, rel));
  }
  if (client.cancelled()) return absl::CancelledError("sync interrupted");
  return first_error.ok() ? first_error : Reported(first_error);
}

absl::Status SyncCommand::CopyOne(Client& client, const std::string& rel) {
  const std::string local = JoinPath(local_, rel);
  const std::string remote = JoinPath(remote_, rel);
  Progress progress(absl::StrCat(upload_ ? "put " : "get ", rel), global_);
  if (upload_) {
    PutOptions options;
    options.retry = global_.retry_policy();
    options.on_retry = global_.on_retry();
    return client.PutFile(local, remote, options, progress.Callback()).status();
  }
  std::error_code error;
  fs::create_directories(fs::path(local).parent_path(), error);
  GetOptions options;
  options.retry = global_.retry_policy();
  options.on_retry = global_.on_retry();
  return client.GetFile(remote, local, options, progress.Callback()).status();
}

absl::Status SyncCommand::MakeDir(Client& client, const std::string& rel) {
  if (upload_) return client.Mkdir(JoinPath(remote_, rel), /*parents=*/true);
  std::error_code error;
  fs::create_directories(JoinPath(local_, rel), error);
  if (error) return absl::ErrnoToStatus(error.value(), JoinPath(local_, rel));
  return absl::OkStatus();
}

absl::Status SyncCommand::RemoveOne(Client& client, const std::string& rel) {
  if (upload_) return DeleteTree(client, JoinPath(remote_, rel));
  std::error_code error;
  fs::remove_all(JoinPath(local_, rel), error);
  if (error) return absl::ErrnoToStatus(error.value(), JoinPath(local_, rel));
  return absl::OkStatus();
}

void SyncCommand::Report(const char* action, const std::string& rel, uint64_t bytes) const {
  if (global_.json) {
    PrintJson({{"command", "sync"}, {"action", action}, {"path", rel},
               {"bytes", U64(bytes)}, {"dry_run", dry_run_}});
  } else {
    std::cout << (dry_run_ ? "would " : "") << action << ' ' << EscapeName(rel) << '\n';
  }
  std::cout.flush();
}

}  // namespace cli
}  // namespace overlapd
