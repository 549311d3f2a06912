// The phases of overlapd's start before it serves, each a function that
// either succeeds or says why the server cannot start: the open-file
// limit, the root, the state directory, the sweep of crashed temp files,
// the token file.
#ifndef OVERLAPD_SERVICE_STARTUP_H_
#define OVERLAPD_SERVICE_STARTUP_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ioengine/temp_names.h"
#include "service/auth.h"
#include "service/config.h"
#include "service/metrics.h"
#include "service/placement.h"

namespace overlapd {

// Open files are the fd cache's currency, and connections need them too.
// Sets RLIMIT_NOFILE to --max-open-files (0: the hard limit, raised to
// twice the fd cache where privileged) and splits it: a reserve of a
// quarter (at least 64) for connections, the listener and the process
// itself, which the engine never touches; the engine's open files within
// the rest (config.engine_options.max_open_files); the fd cache within half
// of that.
void RaiseFileLimit(ServerConfig& config);

// Creates the root if missing and opens it (O_DIRECTORY): the fd every
// client path is resolved beneath. The caller owns the fd.
absl::StatusOr<int> OpenRoot(const std::string& root);

// Fills in the default state directory (ROOT.state), refuses one inside the
// root (clients must never reach the key that proves temp names), creates
// it and loads or creates that key.
absl::StatusOr<io::TempNamer> OpenStateDir(ServerConfig& config);

// Removes the temp files of atomic writes a crash interrupted and upload
// temps unmodified for --upload-grace, logging what went.
void SweepTempFilesAtStart(const ServerConfig& config, const io::TempNamer& namer);

// Reads the token file into `store`; on error the tokens in force stay.
absl::Status LoadTokens(const std::string& path, TokenStore& store);

// --tokens given: loads them, and warns when they would cross a network in
// plaintext.
absl::Status LoadTokensAtStart(const ServerConfig& config, TokenStore& store);

// Reads the placement map into `store` and sets overlapd_placement_version;
// on error (a bad file, a map without this node) the map in force stays.
absl::Status LoadPlacement(const std::string& path, PlacementStore& store, Metrics& metrics);

// Rereads the placement file when it changes, for a node whose map is
// updated in place (a Kubernetes ConfigMap swaps a symlink; an editor
// renames a new file in): Poll, once a second from the main loop, looks at
// the file's inode, size and modification time (following links) every
// --placement-poll-seconds and loads it (LoadPlacement) when they moved;
// Reload loads it now (SIGHUP). A file that fails to load leaves the map in
// force and is not retried until it changes again.
class PlacementWatch {
 public:
  PlacementWatch(const ServerConfig& config, PlacementStore* store, Metrics* metrics);
  void Poll(uint64_t now_ns);
  void Reload(absl::string_view why);

 private:
  struct Stamp {
    uint64_t dev = 0, ino = 0, size = 0, mtime_ns = 0;
    bool operator==(const Stamp&) const = default;
  };
  Stamp Look() const;  // all zero when the file cannot be stat'ed

  const std::string path_;
  const uint64_t every_ns_;  // 0: never polls
  PlacementStore* const store_;  // null: no --placement
  Metrics* const metrics_;
  Stamp seen_;
  uint64_t next_ns_ = 0;
};

// --placement given: loads it into `store` (a map without this node is an
// error).
absl::Status LoadPlacementAtStart(const ServerConfig& config, PlacementStore& store,
                                  Metrics& metrics);

// `root` without trailing slashes, plus `suffix`: a path beside the served
// directory ("data/" + ".state" is "data.state"), never inside it.
std::string BesideRoot(const std::string& root, const std::string& suffix);

// "HOST" of "HOST:PORT".
std::string HostOf(const std::string& address);

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_STARTUP_H_
