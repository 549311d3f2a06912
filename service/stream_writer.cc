#include "service/stream_writer.h"

#include <algorithm>

#include "service/service_context.h"

namespace overlapd {

void StreamWriter::Kick() {
  for (;;) {
    if (writing_.exchange(true, std::memory_order_acq_rel)) return;
    if (Step()) return;  // the token stays with the write / Finish
    if (!Release()) return;
  }
}

void StreamWriter::WriteDone() {
  write_started_ns_.store(0, std::memory_order_release);
  if (Step()) return;
  if (Release()) Kick();
}

bool StreamWriter::Release() {
  writing_.store(false, std::memory_order_seq_cst);
  return HasWork();
}

bool StreamWriter::WriteStalled(uint64_t now_ns, uint64_t stall_ns) const {
  const uint64_t started = write_started_ns();
  // started > now_ns: the write began after the caller read the clock; the
  // unsigned difference would wrap and cut a healthy stream.
  return started != 0 && started <= now_ns && now_ns - started >= stall_ns;
}

void StreamWriter::MarkWriteStarted() {
  write_started_ns_.store(std::max<uint64_t>(MonotonicNs(), 1), std::memory_order_release);
}

}  // namespace overlapd
