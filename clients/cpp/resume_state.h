// The small JSON file that lets an interrupted put or get resume
// (PutOptions::resume, GetOptions::resume). It sits beside the local file
// as LOCAL.overlap-resume:
//
//   {"kind":"put","remote":"data/big.bin",
//    "temp_path":"data/.big.bin.overlapd-up-1f2e...","size":"805306368",
//    "mtime_ns":"1733100000123456789"}
//
// put: size and mtime_ns are the local file's (a changed file starts over);
// get: the remote file's, from Stat (a changed remote file starts over).
// 64-bit numbers are strings, as in protobuf's JSON mapping. Internal to
// clients/cpp.
#ifndef OVERLAPD_CLIENTS_CPP_RESUME_STATE_H_
#define OVERLAPD_CLIENTS_CPP_RESUME_STATE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"

namespace overlapd {
namespace internal {

struct ResumeState {
  std::string kind;       // "put" or "get"
  std::string remote;     // the remote path of the transfer
  std::string temp_path;  // put: the remote temp file being filled
  uint64_t size = 0;
  int64_t mtime_ns = 0;

  bool SameTransfer(const ResumeState& other) const {
    return kind == other.kind && remote == other.remote &&
           size == other.size && mtime_ns == other.mtime_ns;
  }
};

// LOCAL.overlap-resume.
std::string ResumeFileFor(const std::string& local_path);
// LOCAL.partial: where get writes before the rename.
std::string PartialFileFor(const std::string& local_path);

// The state in `path`, or nullopt when there is none or it cannot be read
// or parsed (then the transfer simply starts over).
std::optional<ResumeState> LoadResumeState(const std::string& path);

// Writes the state to `path` (a temp file renamed over it, so a crash
// leaves the old state or the new one).
absl::Status SaveResumeState(const std::string& path, const ResumeState& state);

}  // namespace internal
}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_RESUME_STATE_H_
