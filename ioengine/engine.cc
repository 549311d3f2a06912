#include "ioengine/engine.h"

#include <spdlog/spdlog.h>

#include "ioengine/thread_pool_engine.h"
#include "ioengine/uring_engine.h"

namespace overlapd::io {

absl::StatusOr<std::unique_ptr<Engine>> CreateEngine(EngineKind kind,
                                                     EngineOptions options) {
  if (kind == EngineKind::kThreads) return ThreadPoolEngine::Create(options);
  absl::StatusOr<std::unique_ptr<Engine>> uring = UringEngine::Create(options);
  if (uring.ok() || kind == EngineKind::kUring) return uring;
  spdlog::warn("io_uring unavailable ({}); using the thread pool engine",
               std::string(uring.status().message()));
  return ThreadPoolEngine::Create(options);
}

}  // namespace overlapd::io
