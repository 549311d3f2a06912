#include "ioengine/engine.h"

#include <spdlog/spdlog.h>

#include "ioengine/thread_pool_engine.h"
#include "ioengine/uring_engine.h"

namespace overlapd::io {

absl::StatusOr<std::unique_ptr<Engine>> CreateEngine(EngineKind kind,
                                                     EngineOptions options,
                                                     std::string* fallback_reason) {
  if (fallback_reason != nullptr) fallback_reason->clear();
  if (kind == EngineKind::kThreads) return ThreadPoolEngine::Create(options);
  absl::StatusOr<std::unique_ptr<Engine>> uring = UringEngine::Create(options);
  if (uring.ok() || kind == EngineKind::kUring) return uring;
  spdlog::warn("engine: falling back to threads: io_uring unavailable: {}; reads and writes "
               "run on a thread pool (preadv/pwritev) instead",
               std::string(uring.status().message()));
  if (fallback_reason != nullptr) *fallback_reason = std::string(uring.status().message());
  return ThreadPoolEngine::Create(options);
}

}  // namespace overlapd::io
