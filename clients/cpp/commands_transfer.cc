#include "clients/cpp/commands_transfer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/strings/str_cat.h"
#include "clients/cpp/progress.h"
#include "clients/cpp/remote_tree.h"
#include "ioengine/status_macros.h"

namespace overlapd {
namespace cli {
namespace {

namespace fs = std::filesystem;

absl::Status FsError(const std::error_code& error, const std::string& what) {
  return absl::ErrnoToStatus(error.value(), what);
}

absl::Status CatToStdout(Client& client, const std::string& remote) {
  auto sink = [](absl::string_view data) -> absl::Status {
    if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size()) {
      return absl::ErrnoToStatus(errno, "write stdout");
    }
    return absl::OkStatus();
  };
  OVERLAPD_RETURN_IF_ERROR(client.Cat(remote, sink).status());
  if (std::fflush(stdout) != 0) return absl::ErrnoToStatus(errno, "write stdout");
  return absl::OkStatus();
}

// The regular files and directories under `dir`, as sorted relative paths
// (directories marked). Other kinds (sockets, devices) are skipped with a
// note: they cannot be uploaded.
absl::StatusOr<std::vector<std::pair<std::string, bool>>> LocalTree(const std::string& dir) {
  std::vector<std::pair<std::string, bool>> out;
  std::error_code error;
  fs::recursive_directory_iterator it(dir, error), end;
  if (error) return FsError(error, dir);
  for (; it != end; it.increment(error)) {
    if (error) return FsError(error, dir);
    const std::string rel = fs::relative(it->path(), dir, error).generic_string();
    if (it->is_directory(error)) {
      out.emplace_back(rel, true);
    } else if (it->is_regular_file(error)) {
      out.emplace_back(rel, false);
    } else {
      std::fprintf(stderr, "overlap: skipping %s: not a regular file or directory\n",
                   it->path().c_str());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TransferCommands::TransferCommands(CLI::App& app, const GlobalOptions& global,
                                   Interrupts& interrupts)
    : global_(global), interrupts_(interrupts) {
  AddPut(app);
  AddGet(app);
}

std::optional<absl::Status> TransferCommands::Run(Client& client) {
  if (!put_->parsed() && !get_->parsed()) return std::nullopt;
  // Ctrl-C from here on cancels the transfer, which then cleans up.
  interrupts_.SetGraceful();
  return put_->parsed() ? RunPut(client) : RunGet(client);
}

void TransferCommands::AddPut(CLI::App& app) {
  put_ = AddCommand(
      app, "put", "Upload a local file or tree",
      "Uploads LOCAL ('-': stdin) to REMOTE. A REMOTE that ends with '/' or is a\n"
      "directory gets LOCAL's name inside it. The bytes go to a temporary file\n"
      "beside REMOTE, renamed over it once all arrived: readers, a failure and\n"
      "Ctrl-C all leave the old REMOTE intact (the temp file is deleted, or\n"
      "kept for --resume). Transient errors are retried (--retries).\n"
      "--json: {\"command\":\"put\", \"local\", \"remote\", \"bytes\", \"sent\",\n"
      "\"reused\", \"retries\", \"durable\", \"in_place\"} per file.\n"
      "Exit status 130 after Ctrl-C.");
  put_->add_option("LOCAL", local_, "Local file or directory ('-': stdin)")->required();
  put_->add_option("REMOTE", remote_, "Remote path or directory")->required();
  put_->add_flag("--durable", durable_,
                 "Return only once the file and its directory entry are on stable "
                 "storage (fsync)");
  CLI::Option* atomic = put_->add_flag(
      "--atomic", atomic_, "Replace REMOTE atomically (the default; kept for scripts)");
  put_->add_flag("--in-place", in_place_,
                 "Write REMOTE directly, without a temp file: faster to start, but a "
                 "failed or interrupted put leaves it partly written")
      ->excludes(atomic);
  put_->add_flag("--resume", resume_,
                 "Keep what an interrupted put sent (state in LOCAL.overlap-resume) and "
                 "send only what is missing or differs (CRC32C per chunk)");
  put_->add_flag("-r,--recursive", recursive_, "LOCAL is a directory: upload the tree");
}

void TransferCommands::AddGet(CLI::App& app) {
  get_ = AddCommand(
      app, "get", "Download a remote file or tree",
      "Downloads REMOTE to LOCAL ('-': stdout). A LOCAL that ends with '/' or is\n"
      "a directory gets REMOTE's name inside it. The bytes go to LOCAL.partial,\n"
      "renamed over LOCAL once every chunk arrived with a matching CRC32C: a\n"
      "failure and Ctrl-C leave the old LOCAL intact. Transient errors are\n"
      "retried (--retries). --json: {\"command\":\"get\", \"remote\", \"local\",\n"
      "\"bytes\", \"sent\", \"reused\", \"retries\"} per file. Exit status 130\n"
      "after Ctrl-C.");
  get_->add_option("REMOTE", remote_, "Remote file or directory")->required();
  get_->add_option("LOCAL", local_, "Local path or directory ('-': stdout)")->required();
  get_->add_flag("--resume", resume_,
                 "Keep LOCAL.partial after an interrupt and fetch only what is missing "
                 "or differs (CRC32C per range) next time");
  get_->add_flag("--durable", durable_, "fsync LOCAL and its directory before exiting");
  get_->add_flag("-r,--recursive", recursive_, "REMOTE is a directory: download the tree");
}

PutOptions TransferCommands::MakePutOptions() const {
  PutOptions options;
  options.durable = durable_;
  options.in_place = in_place_;
  options.resume = resume_;
  options.retry = global_.retry_policy();
  options.on_retry = global_.on_retry();
  return options;
}

GetOptions TransferCommands::MakeGetOptions() const {
  GetOptions options;
  options.resume = resume_;
  options.durable = durable_;
  options.retry = global_.retry_policy();
  options.on_retry = global_.on_retry();
  return options;
}

absl::Status TransferCommands::RunPut(Client& client) {
  if (local_ == "-") {
    if (remote_.empty() || remote_.back() == '/') {
      return absl::InvalidArgumentError("put - REMOTE: REMOTE must name a file");
    }
    return PutOne(client, local_, remote_);
  }
  struct stat st;
  if (::stat(local_.c_str(), &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("stat ", local_));
  }
  bool into = !remote_.empty() && remote_.back() == '/';
  if (!into) {
    OVERLAPD_ASSIGN_OR_RETURN(into, IsRemoteDir(client, remote_));
  }
  const std::string target = TargetPath(local_, remote_, into);
  if (!S_ISDIR(st.st_mode)) return PutOne(client, local_, target);
  if (!recursive_) {
    return absl::InvalidArgumentError(
        absl::StrCat(local_, " is a directory (put -r uploads a tree)"));
  }
  return PutTree(client, local_, target);
}

absl::Status TransferCommands::PutOne(Client& client, const std::string& local,
                                      const std::string& remote) {
  Progress progress("put " + remote, global_);
  absl::StatusOr<TransferResult> result =
      local == "-" ? client.PutStream(STDIN_FILENO, remote, MakePutOptions(),
                                      progress.Callback())
                   : client.PutFile(local, remote, MakePutOptions(), progress.Callback());
  progress.Done();
  OVERLAPD_RETURN_IF_ERROR(result.status());
  if (global_.json) {
    PrintJson({{"command", "put"}, {"local", local}, {"remote", remote},
               {"bytes", U64(result->bytes)}, {"sent", U64(result->sent)},
               {"reused", U64(result->reused)}, {"retries", result->retries},
               {"durable", durable_}, {"in_place", in_place_}});
  }
  return absl::OkStatus();
}

absl::Status TransferCommands::PutTree(Client& client, const std::string& local,
                                       const std::string& remote) {
  OVERLAPD_ASSIGN_OR_RETURN(auto tree, LocalTree(local));
  OVERLAPD_RETURN_IF_ERROR(client.Mkdir(remote, /*parents=*/true));
  for (const auto& [rel, is_dir] : tree) {
    const std::string target = JoinPath(remote, rel);
    OVERLAPD_RETURN_IF_ERROR(is_dir ? client.Mkdir(target, /*parents=*/true)
                                   : PutOne(client, JoinPath(local, rel), target));
  }
  return absl::OkStatus();
}

absl::Status TransferCommands::RunGet(Client& client) {
  if (local_ == "-") return CatToStdout(client, remote_);
  OVERLAPD_ASSIGN_OR_RETURN(const bool remote_dir, IsRemoteDir(client, remote_));
  std::error_code error;
  const bool into = (!local_.empty() && local_.back() == '/') ||
                    fs::is_directory(local_, error);
  const std::string target = TargetPath(remote_, local_, into);
  if (!remote_dir) return GetOne(client, remote_, target);
  if (!recursive_) {
    return absl::InvalidArgumentError(
        absl::StrCat(remote_, " is a directory (get -r downloads a tree)"));
  }
  return GetTree(client, remote_, target);
}

absl::Status TransferCommands::GetOne(Client& client, const std::string& remote,
                                      const std::string& local) {
  Progress progress("get " + remote, global_);
  absl::StatusOr<TransferResult> result =
      client.GetFile(remote, local, MakeGetOptions(), progress.Callback());
  progress.Done();
  OVERLAPD_RETURN_IF_ERROR(result.status());
  if (global_.json) {
    PrintJson({{"command", "get"}, {"remote", remote}, {"local", local},
               {"bytes", U64(result->bytes)}, {"sent", U64(result->sent)},
               {"reused", U64(result->reused)}, {"retries", result->retries}});
  }
  return absl::OkStatus();
}

absl::Status TransferCommands::GetTree(Client& client, const std::string& remote,
                                       const std::string& local) {
  OVERLAPD_ASSIGN_OR_RETURN(std::vector<TreeEntry> tree, ListTree(client, remote));
  std::error_code error;
  fs::create_directories(local, error);
  if (error) return FsError(error, local);
  for (const TreeEntry& entry : tree) {
    const std::string target = JoinPath(local, entry.path);
    if (entry.info.type() == v1::FILE_TYPE_DIRECTORY) {
      fs::create_directories(target, error);
      if (error) return FsError(error, target);
    } else if (entry.info.type() == v1::FILE_TYPE_REGULAR) {
      OVERLAPD_RETURN_IF_ERROR(GetOne(client, JoinPath(remote, entry.path), target));
    }
  }
  return absl::OkStatus();
}

}  // namespace cli
}  // namespace overlapd
