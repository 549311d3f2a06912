// Client::RemoteCrcs: CRC32Cs of remote byte ranges without moving the bytes.
//
// A detached job's Read ops read on the server and report each range's
// CRC32C in READ_COMPLETE, but deliver no data; the events are read back
// from the server's event log with Subscribe once the job has ended. This is
// what lets a resumed put or get check gigabytes already transferred for
// the cost of reading them on each side, not of sending them again.
#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "clients/cpp/client.h"
#include "clients/cpp/client_internal.h"
#include "ioengine/status_macros.h"

namespace overlapd {

namespace {

// The job's events are all in the log once it has ended, so a replay ends
// quickly; this bounds a replay that cannot end (its events were evicted).
constexpr std::chrono::seconds kReplayLimit{60};

// Stops `stop` after kReplayLimit unless Disarm() comes first.
class Watchdog {
 public:
  explicit Watchdog(SubscribeStop* stop)
      : thread_([this, stop] {
          bool disarmed;
          {
            absl::MutexLock lock(&mu_);
            disarmed = mu_.AwaitWithTimeout(absl::Condition(&disarmed_),
                                            absl::FromChrono(kReplayLimit));
          }
          if (!disarmed) stop->Stop();
        }) {}
  ~Watchdog() {
    {
      absl::MutexLock lock(&mu_);
      disarmed_ = true;
    }
    thread_.join();
  }

 private:
  absl::Mutex mu_;
  bool disarmed_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts after the fields it uses
};

}  // namespace

absl::StatusOr<std::vector<std::optional<uint32_t>>> Client::RemoteCrcs(
    const std::string& path, const std::vector<Range>& ranges) {
  std::vector<FileRange> of_path;
  for (const Range& range : ranges) of_path.push_back({path, range.first, range.second});
  absl::Status failure;
  OVERLAPD_ASSIGN_OR_RETURN(auto crcs, RangeCrcs(of_path, &failure));
  // One file: a missing or refused file fails every op the same way, and
  // that is the answer. Other failures leave their ranges unknown.
  if (failure.code() == absl::StatusCode::kNotFound ||
      failure.code() == absl::StatusCode::kInvalidArgument) {
    return failure;
  }
  return crcs;
}

absl::StatusOr<std::vector<std::optional<uint32_t>>> Client::RemoteCrcs(
    const std::vector<FileRange>& ranges) {
  absl::Status failure;
  return RangeCrcs(ranges, &failure);
}

absl::StatusOr<std::vector<std::optional<uint32_t>>> Client::RangeCrcs(
    const std::vector<FileRange>& ranges, absl::Status* failure) {
  std::vector<std::optional<uint32_t>> crcs(ranges.size());
  OVERLAPD_ASSIGN_OR_RETURN(std::unique_ptr<v1::Capabilities> caps,
                           OptionalCapabilities());
  const size_t per_job =
      caps != nullptr && caps->max_ops_per_batch() > 0 ? caps->max_ops_per_batch() : 1024;
  for (size_t first = 0; first < ranges.size(); first += per_job) {
    const size_t n = std::min(per_job, ranges.size() - first);
    v1::Batch batch;
    batch.set_label(absl::StrCat("overlap: CRC32C of ", ranges[first].path,
                                 n > 1 ? " and more" : ""));
    for (size_t i = 0; i < n; ++i) {
      v1::Op* op = batch.add_ops();
      op->set_tag(i);
      v1::Read* read = op->mutable_read();
      read->set_path(ranges[first + i].path);
      read->set_offset(ranges[first + i].offset);
      read->set_length(ranges[first + i].length);
    }
    OVERLAPD_ASSIGN_OR_RETURN(v1::Job job, Submit(batch));
    OVERLAPD_ASSIGN_OR_RETURN(
        job, WaitJob(job.id(), absl::Milliseconds(20), absl::Minutes(30)));
    OVERLAPD_RETURN_IF_ERROR(CollectJobCrcs(job.id(), n, &crcs, ranges, first, failure));
  }
  if (failure->code() == absl::StatusCode::kPermissionDenied ||
      failure->code() == absl::StatusCode::kUnauthenticated) {
    return *failure;
  }
  return crcs;
}

absl::Status Client::CollectJobCrcs(uint64_t job_id, size_t ops,
                                    std::vector<std::optional<uint32_t>>* crcs,
                                    const std::vector<FileRange>& ranges, size_t first,
                                    absl::Status* failure) {
  v1::SubscribeRequest request;
  request.add_job_ids(job_id);
  request.set_from_seq(0);  // replay: the job has ended
  request.add_types(v1::READ_COMPLETE);
  request.add_types(v1::OP_FAILED);
  request.add_types(v1::OP_CANCELLED);
  std::set<uint64_t> seen;
  SubscribeStop stop;
  absl::Status status;
  {
    Watchdog watchdog(&stop);
    status = Subscribe(request, [&](const v1::Event& event) {
      if (event.type() == v1::EVENTS_LOST || event.tag() >= ops) return true;
      seen.insert(event.tag());
      const FileRange& range = ranges[first + event.tag()];
      if (event.type() == v1::READ_COMPLETE && event.bytes() == range.length) {
        (*crcs)[first + event.tag()] = event.crc32c();
      } else if (event.type() == v1::OP_FAILED && failure->ok()) {
        *failure = internal::EventStatus(event);
      }
      return seen.size() < ops;
    }, &stop);
  }
  return status;
}

}  // namespace overlapd
