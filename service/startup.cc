#include "service/startup.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "ioengine/recovery.h"
#include "ioengine/status_macros.h"

namespace overlapd {

void RaiseFileLimit(ServerConfig& config) {
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  const rlim_t wanted = 2 * static_cast<rlim_t>(config.engine_options.fd_cache_entries);
  if (config.max_open_files == 0 && lim.rlim_max < wanted) {
    struct rlimit raised = {wanted, wanted};
    setrlimit(RLIMIT_NOFILE, &raised);  // fails without CAP_SYS_RESOURCE
    getrlimit(RLIMIT_NOFILE, &lim);
  }
  const rlim_t target = config.max_open_files == 0
                            ? lim.rlim_max
                            : std::min<rlim_t>(lim.rlim_max, config.max_open_files);
  if (lim.rlim_cur != target) {
    lim.rlim_cur = target;
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
  }
  // An accept that meets EMFILE may never be retried by gRPC (listener.h):
  // the reserve keeps the engine from taking the last descriptors.
  const size_t limit = static_cast<size_t>(lim.rlim_cur);
  const size_t reserve = std::max<size_t>(64, limit / 4);
  config.engine_options.max_open_files = limit > reserve ? limit - reserve : 1;
  // The cache may hold three quarters of the engine's share: the rest is
  // for files opened past it, and an open that finds the share used up
  // sheds half the cache first (EngineCore::InBase).
  const size_t cap = config.engine_options.max_open_files / 4 * 3;
  if (config.engine_options.fd_cache_entries > cap) {
    spdlog::info("--fd-cache {} lowered to {} (three quarters of the engine's share of the "
                 "open-file limit)",
                 config.engine_options.fd_cache_entries, cap);
    config.engine_options.fd_cache_entries = cap;
  }
}

absl::StatusOr<int> OpenRoot(const std::string& root) {
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("--root ", root, ": cannot create: ", ec.message()));
  }
  const int fd = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat("--root ", root, ": ", strerror(errno)));
  }
  return fd;
}

absl::StatusOr<io::TempNamer> OpenStateDir(ServerConfig& config) {
  namespace fs = std::filesystem;
  if (config.state_dir.empty()) config.state_dir = BesideRoot(config.root, ".state");
  std::error_code ec;
  fs::create_directories(config.state_dir, ec);
  const fs::path state = fs::weakly_canonical(config.state_dir, ec);
  const fs::path root = fs::weakly_canonical(config.root, ec);
  auto [r, s] = std::mismatch(root.begin(), root.end(), state.begin(), state.end());
  if (r == root.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--state-dir ", config.state_dir, " lies inside --root ", config.root,
        ": clients could reach it; put it beside the root"));
  }
  absl::StatusOr<io::TempNamer> namer = io::TempNamer::LoadOrCreate(config.state_dir);
  if (!namer.ok()) {
    return absl::Status(namer.status().code(),
                        absl::StrCat(namer.status().message(),
                                     " (choose another place with --state-dir)"));
  }
  spdlog::info("state directory {}", config.state_dir);
  return namer;
}

void SweepTempFilesAtStart(const ServerConfig& config, const io::TempNamer& namer) {
  const io::SweepResult swept =
      io::SweepTempFiles(config.root, namer, config.upload_grace_s, /*atomic_too=*/true);
  if (swept.atomic_removed > 0) {
    spdlog::warn("removed {} temp files of atomic writes interrupted by a crash",
                 swept.atomic_removed);
  }
  if (swept.uploads_removed > 0) {
    spdlog::info("removed {} upload temp files unmodified for {} s", swept.uploads_removed,
                 config.upload_grace_s);
  }
}

absl::Status LoadTokens(const std::string& path, TokenStore& store) {
  auto loaded = TokenTable::Load(path);
  if (!loaded.ok()) return loaded.status();
  spdlog::info("bearer tokens: {} from {}", loaded->size(), path);
  store.Set(std::make_shared<const TokenTable>(*std::move(loaded)));
  return absl::OkStatus();
}

absl::Status LoadTokensAtStart(const ServerConfig& config, TokenStore& store) {
  if (config.tokens_file.empty()) return absl::OkStatus();
  if (absl::Status loaded = LoadTokens(config.tokens_file, store); !loaded.ok()) return loaded;
  const std::string host = HostOf(config.listen);
  if (config.tls_cert.empty() && host != "127.0.0.1" && host != "localhost" && host != "[::1]") {
    spdlog::warn("--tokens without TLS: tokens cross the network in plaintext");
  }
  return absl::OkStatus();
}

absl::Status LoadPlacement(const std::string& path, PlacementStore& store, Metrics& metrics) {
  absl::StatusOr<PlacementMap> map = LoadPlacementFile(path);
  if (!map.ok()) return map.status();
  const uint64_t version = map->version();
  OVERLAPD_RETURN_IF_ERROR(store.Set(std::make_shared<const PlacementMap>(*std::move(map))));
  metrics.placement_version().Set(static_cast<double>(version));
  return absl::OkStatus();
}

PlacementWatch::PlacementWatch(const ServerConfig& config, PlacementStore* store,
                               Metrics* metrics)
    : path_(config.placement_file),
      every_ns_(static_cast<uint64_t>(std::max(0, config.placement_poll_seconds)) *
                1'000'000'000),
      store_(store),
      metrics_(metrics),
      seen_(store == nullptr ? Stamp{} : Look()) {}

PlacementWatch::Stamp PlacementWatch::Look() const {
  struct stat st;
  if (stat(path_.c_str(), &st) != 0) return {};
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
          static_cast<uint64_t>(st.st_size),
          static_cast<uint64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
              static_cast<uint64_t>(st.st_mtim.tv_nsec)};
}

void PlacementWatch::Poll(uint64_t now_ns) {
  if (store_ == nullptr || every_ns_ == 0 || now_ns < next_ns_) return;
  next_ns_ = now_ns + every_ns_;
  const Stamp now = Look();
  if (now == seen_ || now == Stamp{}) return;  // unchanged, or gone for a moment
  Reload("the file changed");
}

void PlacementWatch::Reload(absl::string_view why) {
  if (store_ == nullptr) return;
  seen_ = Look();
  if (absl::Status s = LoadPlacement(path_, *store_, *metrics_); !s.ok()) {
    spdlog::error("{}: {}; the placement map in force stays", std::string(why),
                  std::string(s.message()));
  }
}

absl::Status LoadPlacementAtStart(const ServerConfig& config, PlacementStore& store,
                                  Metrics& metrics) {
  if (config.placement_file.empty()) return absl::OkStatus();
  return LoadPlacement(config.placement_file, store, metrics);
}

std::string BesideRoot(const std::string& root, const std::string& suffix) {
  std::string path = root;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path + suffix;
}

std::string HostOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

}  // namespace overlapd
