// `overlap sync SRC DST`: makes DST hold what SRC holds, one side local and
// the other remote (written ":PATH"), sending only files that are missing
// or differ (size, then CRC32C). Internal to clients/cpp.
#ifndef OVERLAPD_CLIENTS_CPP_COMMANDS_SYNC_H_
#define OVERLAPD_CLIENTS_CPP_COMMANDS_SYNC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "clients/cpp/cli_common.h"
#include "clients/cpp/client.h"
#include "clients/cpp/interrupt.h"
#include "clients/cpp/sync_plan.h"

namespace CLI {
class App;
}  // namespace CLI

namespace overlapd {
namespace cli {

class SyncCommand final : public CommandGroup {
 public:
  SyncCommand(CLI::App& app, const GlobalOptions& global, Interrupts& interrupts);
  SyncCommand(const SyncCommand&) = delete;
  SyncCommand& operator=(const SyncCommand&) = delete;

  std::optional<absl::Status> Run(Client& client) override;

 private:
  struct Totals {
    uint64_t copied = 0, unchanged = 0, deleted = 0, bytes = 0, failed = 0;
  };

  absl::Status Sync(Client& client);
  absl::StatusOr<SyncTree> LocalSide(const std::string& dir) const;
  absl::StatusOr<SyncTree> RemoteSide(Client& client, const std::string& dir) const;
  absl::Status SortOutSameSize(Client& client, SyncPlan& plan, Totals& totals);
  absl::Status Apply(Client& client, const SyncPlan& plan, const SyncTree& src,
                     Totals& totals);
  absl::Status CopyOne(Client& client, const std::string& rel);
  absl::Status MakeDir(Client& client, const std::string& rel);
  absl::Status RemoveOne(Client& client, const std::string& rel);
  void Report(const char* action, const std::string& rel, uint64_t bytes) const;

  const GlobalOptions& global_;
  Interrupts& interrupts_;
  CLI::App* sync_ = nullptr;
  std::string src_arg_;
  std::string dst_arg_;
  bool dry_run_ = false;
  bool delete_ = false;
  // Parsed from the arguments: which side is remote, and the two roots.
  bool upload_ = true;
  std::string local_;
  std::string remote_;
};

}  // namespace cli
}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_COMMANDS_SYNC_H_
