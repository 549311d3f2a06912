// The remote file commands of the `overlap` CLI: cat, stat, ls, du, read,
// caps, cp, mv, rm, mkdir. Transfers (put, get, sync) are in
// commands_transfer.h. Internal to clients/cpp; not a stable API.
#ifndef OVERLAPD_CLIENTS_CPP_COMMANDS_FILES_H_
#define OVERLAPD_CLIENTS_CPP_COMMANDS_FILES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "clients/cpp/cli_common.h"
#include "clients/cpp/client.h"

namespace CLI {
class App;
}  // namespace CLI

namespace overlapd {
namespace cli {

// Adds the file commands to `app` (in the constructor) and runs the one the
// user chose (Run, after app.parse). Not copyable or movable: CLI11 writes
// the parsed flags into its members.
class FileCommands final : public CommandGroup {
 public:
  FileCommands(CLI::App& app, const GlobalOptions& global);
  FileCommands(const FileCommands&) = delete;
  FileCommands& operator=(const FileCommands&) = delete;

  std::optional<absl::Status> Run(Client& client) override;

 private:
  using RunFn = absl::Status (FileCommands::*)(Client&);
  void Add(CLI::App* command, RunFn run) { commands_.push_back({command, run}); }

  void AddReadCommands(CLI::App& app);
  void AddListCommands(CLI::App& app);
  void AddChangeCommands(CLI::App& app);
  void AddRemove(CLI::App& app);

  absl::Status RunCat(Client& client);
  absl::Status RunStat(Client& client);
  absl::Status RunList(Client& client);
  absl::Status RunDu(Client& client);
  absl::Status RunRead(Client& client);
  absl::Status RunCaps(Client& client);
  absl::Status RunCopy(Client& client);
  absl::Status RunMove(Client& client);
  absl::Status RunRemove(Client& client);
  absl::Status RunMkdir(Client& client);

  const GlobalOptions& global_;
  std::vector<std::pair<CLI::App*, RunFn>> commands_;

  std::vector<std::string> paths_;
  std::string dir_ = ".";
  uint64_t offset_ = 0;
  uint64_t length_ = 0;
  std::string src_;
  std::string dst_;
  bool durable_ = false;
  bool no_replace_ = false;
  bool directory_ = false;
  bool recursive_ = false;
  bool force_ = false;
  bool parents_ = false;
  bool long_ = false;
  bool human_ = false;
};

}  // namespace cli
}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_COMMANDS_FILES_H_
