// The transfer commands of the `overlap` CLI: put and get (one file, a tree
// with -r, stdin/stdout as '-'); sync is in commands_sync.h. Internal to clients/cpp; not a
// stable API.
#ifndef OVERLAPD_CLIENTS_CPP_COMMANDS_TRANSFER_H_
#define OVERLAPD_CLIENTS_CPP_COMMANDS_TRANSFER_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "clients/cpp/cli_common.h"
#include "clients/cpp/client.h"
#include "clients/cpp/interrupt.h"

namespace CLI {
class App;
}  // namespace CLI

namespace overlapd {
namespace cli {

// Adds put and get to `app` and runs the one that was parsed. These
// commands clean up after Ctrl-C: they make `interrupts` graceful.
class TransferCommands final : public CommandGroup {
 public:
  TransferCommands(CLI::App& app, const GlobalOptions& global, Interrupts& interrupts);
  TransferCommands(const TransferCommands&) = delete;
  TransferCommands& operator=(const TransferCommands&) = delete;

  std::optional<absl::Status> Run(Client& client) override;

 private:
  void AddPut(CLI::App& app);
  void AddGet(CLI::App& app);

  absl::Status RunPut(Client& client);
  absl::Status RunGet(Client& client);
  absl::Status PutOne(Client& client, const std::string& local, const std::string& remote);
  absl::Status PutTree(Client& client, const std::string& local, const std::string& remote);
  absl::Status GetOne(Client& client, const std::string& remote, const std::string& local);
  absl::Status GetTree(Client& client, const std::string& remote, const std::string& local);
  PutOptions MakePutOptions() const;
  GetOptions MakeGetOptions() const;

  const GlobalOptions& global_;
  Interrupts& interrupts_;
  CLI::App* put_ = nullptr;
  CLI::App* get_ = nullptr;

  std::string local_;
  std::string remote_;
  bool durable_ = false;
  bool atomic_ = false;
  bool in_place_ = false;
  bool resume_ = false;
  bool recursive_ = false;
};

}  // namespace cli
}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_COMMANDS_TRANSFER_H_
