// What a job that was running when overlapd stopped does after a restart:
// for each op, whether its outcome was journaled (it is not run again),
// whether running it again is safe, or whether its outcome is unknown.
#ifndef OVERLAPD_SERVICE_JOB_RECOVERY_H_
#define OVERLAPD_SERVICE_JOB_RECOVERY_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "overlapd/v1/overlapd.pb.h"

namespace overlapd {


enum class ResumeStep : uint8_t {
  kDone,    // its terminal event was journaled: counted, not run again
  kRun,     // runs again: running it twice leaves what running it once does
  kAbort,   // not safe to run twice and its outcome is unknown: OP_FAILED ABORTED
  kCancel,  // its link_next chain broke before it (a failed or aborted op)
};

// Whether running `op` again after it may already have run leaves the same
// files as running it once: Read, Stat, List, Fsync, Copy, Write AT /
// TRUNCATE / REPLACE_ATOMIC and Mkdir are; Write APPEND / CREATE_NEW,
// Rename and Delete are not (a second run appends again, or fails on what
// the first one did, or moves or removes something else).
bool SafeToRerun(const v1::Op& op);

// The step of each op of `batch`, given the terminal events journaled
// before the restart (op index -> event). A chain resumes at its first op
// without one; a chain whose journaled op failed, or whose op must abort,
// cancels the ops after it, as the engine would have.
//
//   std::vector<ResumeStep> plan = PlanResume(batch, ended);
std::vector<ResumeStep> PlanResume(const v1::Batch& batch,
                                   const std::map<uint32_t, v1::Event>& ended);

// The event of an op that ends with kAbort or kCancel.
void FillResumeOutcome(ResumeStep step, v1::Event* event);

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_JOB_RECOVERY_H_
