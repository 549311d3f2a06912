// The portable backend: each worker runs its IOs with preadv/pwritev-style
// blocking system calls. The fallback when io_uring is missing or disabled,
// and the baseline the io_uring backend is measured against.
#ifndef OVERLAPD_IOENGINE_THREAD_POOL_ENGINE_H_
#define OVERLAPD_IOENGINE_THREAD_POOL_ENGINE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "ioengine/engine_core.h"

namespace overlapd::io {

class ThreadPoolEngine final : public EngineCore {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Create(EngineOptions options);
  ~ThreadPoolEngine() override;

  std::string_view name() const override { return "threads"; }

 private:
  explicit ThreadPoolEngine(EngineOptions options) : EngineCore(options) {}
  bool Turn(int worker, bool may_block) override;
};

}  // namespace overlapd::io

#endif  // OVERLAPD_IOENGINE_THREAD_POOL_ENGINE_H_
