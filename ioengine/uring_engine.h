// The io_uring backend: one ring and one worker thread per core.
#ifndef OVERLAPD_IOENGINE_URING_ENGINE_H_
#define OVERLAPD_IOENGINE_URING_ENGINE_H_

#include <liburing.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ioengine/engine_core.h"

namespace overlapd::io {

// Each worker owns a ring. Its loop: take the inbox, start ops and prepare
// SQEs while the ring has room (a full ring is normal: the rest waits in the
// ready list), then one io_uring_submit_and_wait, then reap CQEs in a batch
// and run their completions. An IORING_OP_READ on the inbox's eventfd stays
// armed so that new work wakes a worker blocked in the kernel.
class UringEngine final : public EngineCore {
 public:
  // Sets up one ring per worker; fails (UNAVAILABLE, with the errno) when
  // io_uring is missing, disabled, or lacks the opcodes the engine needs.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(EngineOptions options);
  ~UringEngine() override;

  std::string_view name() const override { return "uring"; }
  std::vector<std::string> features() const override { return features_; }

 private:
  struct Ring {
    io_uring ring;
    bool initialized = false;
    uint64_t wake_value = 0;  // the eventfd read lands here
    bool wake_armed = false;
    uint32_t in_flight = 0;  // IO SQEs submitted, CQE not yet reaped
    internal::ChunkIo* in_flight_list = nullptr;  // those IOs, for cancellation
    uint64_t cancel_tag = 0;  // user_data of ASYNC_CANCEL SQEs
  };

  explicit UringEngine(EngineOptions options) : EngineCore(options) {}
  absl::Status Init();
  bool Turn(int worker, bool may_block) override;
  void ArmWake(Ring& r, Worker& w);
  void CancelInFlight(uint64_t op_id) override;
  void CancelOnWorker(int worker, uint64_t op_id) override;
  void Reap(Ring& r, int worker);
  // Queues IORING_OP_ASYNC_CANCEL for each IO of `op_id` in the kernel.
  void CancelOnRing(Ring& r, uint64_t op_id);

  std::vector<std::unique_ptr<Ring>> rings_;
  std::vector<std::string> features_;
};

}  // namespace overlapd::io

#endif  // OVERLAPD_IOENGINE_URING_ENGINE_H_
