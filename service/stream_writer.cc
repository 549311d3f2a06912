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

void StreamWriter::MarkWriteStarted() {
  write_started_ns_.store(std::max<uint64_t>(MonotonicNs(), 1), std::memory_order_release);
}

}  // namespace overlapd
