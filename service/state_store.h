// The state store: one SQLite database in WAL mode in --state-dir holding
// the durable event log, the jobs and each running job's op outcomes
// (docs/DURABILITY.md says why SQLite). This file knows SQL and nothing of
// threads: the journal (journal.h) is its only writer once the server runs;
// start-up reads it before that.
#ifndef OVERLAPD_SERVICE_STATE_STORE_H_
#define OVERLAPD_SERVICE_STATE_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct sqlite3;
struct sqlite3_stmt;

namespace overlapd {

// One retained event of the log, as stored.
struct StoredEvent {
  uint64_t pos = 0;  // position in the log: 0, 1, 2, ... across restarts
  uint64_t seq = 0;
  bool session = false;
  std::string owner;  // the token prefix of the call or job that made it
  std::string event;  // a serialised v1::Event
};

// One job, as stored: its batch, as submitted, and its last known state.
struct StoredJob {
  uint64_t id = 0;
  std::string owner;     // the submitting token's path prefix
  std::string batch;     // serialised v1::Batch
  std::string snapshot;  // serialised v1::Job: final once `finished`
  bool finished = false;
  // Op index -> its serialised terminal event (running jobs only: a job's
  // ops are forgotten when it finishes).
  std::map<uint32_t, std::string> ops;
};

// Counters that must never go back across restarts (meta table).
inline constexpr char kMetaSeqFloor[] = "seq_floor";
inline constexpr char kMetaJobIdFloor[] = "job_id_floor";
// The seq of the newest event that left the log, and the log's first kept
// position (so that EVENTS_LOST counts stay exact across restarts).
inline constexpr char kMetaEvictedLastSeq[] = "evicted_last_seq";
inline constexpr char kMetaBeginPos[] = "begin_pos";

// Rows hold many records each: a commit writes one row of the events it
// adds (positions first..last) and one row per job of the op outcomes it
// adds, so that a row's fixed cost in SQLite is paid per commit, not per
// event (measured: per-event rows made the journal thread the bottleneck
// of a 100k-event job load). Pack* append one record to such a row.
//
// Not thread-safe: one thread at a time (start-up, then the journal's
// writer).
class StateStore {
 public:
  // The database file in `dir`.
  static std::string PathIn(const std::string& dir);

  // Opens (creating it when missing) the store in `dir` and checks it
  // (PRAGMA quick_check). A file that is not a database, is truncated or
  // corrupt, or a directory where it cannot write: FAILED_PRECONDITION (or
  // PERMISSION_DENIED) with a message naming the file and what to do.
  static absl::StatusOr<std::unique_ptr<StateStore>> Open(const std::string& dir);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  const std::string& path() const { return path_; }

  // Start-up reads.
  absl::StatusOr<uint64_t> Meta(const char* key);  // 0 when absent
  // The events with pos >= `from_pos`, in order.
  absl::Status LoadEvents(uint64_t from_pos, const std::function<void(StoredEvent&&)>& fn);
  // The last stored position + 1 (0: none).
  absl::StatusOr<uint64_t> EventEnd();
  absl::StatusOr<std::vector<StoredJob>> LoadJobs();

  // Writes: between Begin and Commit (one transaction; Commit makes it
  // durable: synchronous=FULL fsyncs the WAL).
  absl::Status Begin();
  absl::Status Commit();
  absl::Status Rollback();
  static void PackEvent(std::string* row, uint64_t seq, bool session, absl::string_view owner,
                        absl::string_view event);
  static void PackOp(std::string* row, uint32_t index, absl::string_view event);
  // The events at positions first..last, packed.
  absl::Status PutEvents(uint64_t first_pos, uint64_t last_pos, const std::string& row);
  // Drops the rows whose events all lie before `before_pos`.
  absl::Status TrimEvents(uint64_t before_pos);
  absl::Status PutJob(uint64_t id, const std::string& owner, const std::string& batch,
                      const std::string& snapshot);
  // Records the job's state; a finished job's op rows go.
  absl::Status UpdateJob(uint64_t id, const std::string& snapshot, bool finished);
  // Op outcomes of job `id`, packed.
  absl::Status PutJobOps(uint64_t id, const std::string& row);
  absl::Status DeleteJob(uint64_t id);
  absl::Status SetMeta(const char* key, uint64_t value);

 private:
  StateStore(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  absl::Status Prepare();
  absl::Status Exec(const char* sql);
  // Steps a prepared write statement once and resets it.
  absl::Status Run(sqlite3_stmt* stmt, const char* what);
  absl::Status Error(const char* what) const;

  const std::string path_;
  sqlite3* db_;
  enum Stmt {
    kPutEvent, kTrimEvents, kPutJob, kUpdateJob, kDeleteJobOps, kPutJobOp, kDeleteJob,
    kSetMeta, kStmtCount
  };
  sqlite3_stmt* stmts_[kStmtCount] = {};
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_STATE_STORE_H_
