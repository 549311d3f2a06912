#include "service/state_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "ioengine/status_macros.h"

namespace overlapd {

namespace {

constexpr int kFormat = 2;

constexpr char kSchema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS events(first_pos INTEGER PRIMARY KEY,"
    " last_pos INTEGER NOT NULL, entries BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS jobs(id INTEGER PRIMARY KEY, owner TEXT NOT NULL,"
    " batch BLOB NOT NULL, snapshot BLOB NOT NULL, finished INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS job_ops(job INTEGER NOT NULL, ops BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS job_ops_job ON job_ops(job);";

constexpr const char* kStatements[] = {
    "INSERT OR REPLACE INTO events VALUES(?1, ?2, ?3)",
    "DELETE FROM events WHERE last_pos < ?1",
    "INSERT OR REPLACE INTO jobs VALUES(?1, ?2, ?3, ?4, 0)",
    // A finished job's row is final.
    "UPDATE jobs SET snapshot = ?2, finished = ?3 WHERE id = ?1 AND finished = 0",
    "DELETE FROM job_ops WHERE job = ?1",
    "INSERT INTO job_ops VALUES(?1, ?2)",
    "DELETE FROM jobs WHERE id = ?1",
    "INSERT OR REPLACE INTO meta VALUES(?1, ?2)",
};

// What an operator can do about a store overlapd will not start on.
std::string Remedy(const std::string& path) {
  return absl::StrCat(
      "overlapd will not start on it (it would serve without the jobs and events it holds). "
      "Either salvage what is readable: sqlite3 ", path, " .recover | sqlite3 ", path,
      ".recovered, then move ", path, " (and its -wal, -shm files) aside and ", path,
      ".recovered in its place; or move it aside to start with no jobs and no events; or "
      "start with --state-dir elsewhere");
}

absl::Status Unusable(const std::string& path, const std::string& why) {
  return absl::FailedPreconditionError(
      absl::StrCat("state store ", path, ": ", why, ". ", Remedy(path)));
}

void Bind(sqlite3_stmt* s, int i, const std::string& blob) {
  sqlite3_bind_blob(s, i, blob.data(), static_cast<int>(blob.size()), SQLITE_STATIC);
}

std::string Column(sqlite3_stmt* s, int i) {
  const void* p = sqlite3_column_blob(s, i);
  return p == nullptr ? std::string()
                      : std::string(static_cast<const char*>(p),
                                    static_cast<size_t>(sqlite3_column_bytes(s, i)));
}

void PutU32(std::string* out, uint32_t v) { out->append(reinterpret_cast<const char*>(&v), 4); }
void PutU64(std::string* out, uint64_t v) { out->append(reinterpret_cast<const char*>(&v), 8); }

// Reads packed records; a short or inconsistent row ends it (ok() false).
class Unpacker {
 public:
  explicit Unpacker(absl::string_view row) : rest_(row) {}
  bool done() const { return rest_.empty(); }
  bool ok() const { return ok_; }
  uint64_t U64() { return Fixed<uint64_t>(); }
  uint32_t U32() { return Fixed<uint32_t>(); }
  uint8_t U8() { return Fixed<uint8_t>(); }
  std::string Bytes() {
    const uint32_t n = U32();
    if (!ok_ || rest_.size() < n) return Fail<std::string>();
    std::string out(rest_.substr(0, n));
    rest_.remove_prefix(n);
    return out;
  }

 private:
  template <typename T>
  T Fixed() {
    if (rest_.size() < sizeof(T)) return Fail<T>();
    T v;
    std::memcpy(&v, rest_.data(), sizeof(T));
    rest_.remove_prefix(sizeof(T));
    return v;
  }
  template <typename T>
  T Fail() {
    ok_ = false;
    rest_ = {};
    return T();
  }
  absl::string_view rest_;
  bool ok_ = true;
};

// A new store is built under a temporary name and renamed into place, so
// that an empty file under the real name can only mean a truncated store.
absl::Status CreateFresh(const std::string& dir, const std::string& path) {
  const std::string fresh = path + ".new";
  unlink(fresh.c_str());
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(fresh.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                           nullptr);
  std::string err;
  if (rc == SQLITE_OK) {
    rc = sqlite3_exec(db,
                      absl::StrCat("PRAGMA journal_mode=WAL;", kSchema,
                                   "INSERT INTO meta VALUES('format', ", kFormat, ");")
                          .c_str(),
                      nullptr, nullptr, nullptr);
  }
  if (rc != SQLITE_OK) err = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  sqlite3_close(db);
  if (rc != SQLITE_OK || rename(fresh.c_str(), path.c_str()) != 0) {
    if (err.empty()) err = strerror(errno);
    unlink(fresh.c_str());
    return absl::FailedPreconditionError(absl::StrCat(
        "state store ", path, ": cannot create it (", err, "); --state-dir ", dir,
        " must be a directory overlapd can write, or choose another --state-dir"));
  }
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);  // the rename itself is durable
    close(dfd);
  }
  return absl::OkStatus();
}

// A directory overlapd cannot write (read-only mount, permissions) is told
// apart from a damaged store before SQLite gets to say either.
absl::Status ProbeWritable(const std::string& dir, const std::string& path) {
  const std::string probe = dir + "/.overlapd-write-probe";
  int fd = open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "state store ", path, ": --state-dir ", dir, " is not writable (", strerror(errno),
        "); overlapd journals its jobs and events there: make it writable, or choose "
        "another --state-dir"));
  }
  close(fd);
  unlink(probe.c_str());
  return absl::OkStatus();
}

}  // namespace

std::string StateStore::PathIn(const std::string& dir) { return dir + "/overlapd.db"; }

absl::StatusOr<std::unique_ptr<StateStore>> StateStore::Open(const std::string& dir) {
  const std::string path = PathIn(dir);
  OVERLAPD_RETURN_IF_ERROR(ProbeWritable(dir, path));
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return Unusable(path, strerror(errno));
    OVERLAPD_RETURN_IF_ERROR(CreateFresh(dir, path));
  } else if (st.st_size == 0) {
    return Unusable(path, "the file is empty (truncated)");
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  std::unique_ptr<StateStore> store(new StateStore(path, db));
  if (rc != SQLITE_OK) return Unusable(path, db != nullptr ? sqlite3_errmsg(db) : "cannot open");
  sqlite3_busy_timeout(db, 5000);
  // quick_check reads every page: a truncated or overwritten file fails
  // here, not later in the middle of serving.
  sqlite3_stmt* check = nullptr;
  rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &check, nullptr);
  std::string verdict;
  if (rc == SQLITE_OK) {
    while ((rc = sqlite3_step(check)) == SQLITE_ROW) {
      if (!verdict.empty()) verdict += "; ";
      verdict += Column(check, 0);
    }
  }
  sqlite3_finalize(check);
  if (rc != SQLITE_DONE && rc != SQLITE_OK) return Unusable(path, sqlite3_errmsg(db));
  if (verdict != "ok") return Unusable(path, "corrupt: " + verdict.substr(0, 300));
  absl::StatusOr<uint64_t> format = store->Meta("format");
  if (!format.ok()) return Unusable(path, "not an overlapd state store (" +
                                              std::string(format.status().message()) + ")");
  if (*format != kFormat) {
    return Unusable(path, absl::StrCat("format ", *format, ", this overlapd reads ", kFormat));
  }
  // synchronous=FULL: a commit returns once the WAL is fsynced, so what
  // the journal acknowledges survives a power loss too.
  absl::Status probe = store->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
  // A write now, so that a read-only file stops the start.
  if (probe.ok()) {
    probe = store->Exec("BEGIN IMMEDIATE; INSERT OR REPLACE INTO meta "
                        "VALUES('opened', strftime('%s','now')); COMMIT;");
  }
  if (probe.ok()) probe = store->Prepare();
  if (!probe.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "state store ", path, ": cannot write (", probe.message(), "); it and --state-dir ",
        dir, " must be writable by overlapd, or choose another --state-dir"));
  }
  return store;
}

StateStore::~StateStore() {
  for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);
  sqlite3_close(db_);
}

absl::Status StateStore::Error(const char* what) const {
  return absl::InternalError(absl::StrCat("state store ", path_, ": ", what, ": ",
                                          sqlite3_errmsg(db_)));
}

absl::Status StateStore::Exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) == SQLITE_OK) return absl::OkStatus();
  std::string text = msg != nullptr ? msg : "error";
  sqlite3_free(msg);
  return absl::InternalError(text);
}

absl::Status StateStore::Prepare() {
  for (int i = 0; i < kStmtCount; ++i) {
    if (sqlite3_prepare_v2(db_, kStatements[i], -1, &stmts_[i], nullptr) != SQLITE_OK) {
      return Error("prepare");
    }
  }
  return absl::OkStatus();
}

absl::Status StateStore::Run(sqlite3_stmt* stmt, const char* what) {
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  return rc == SQLITE_DONE ? absl::OkStatus() : Error(what);
}

absl::StatusOr<uint64_t> StateStore::Meta(const char* key) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key = ?1", -1, &s, nullptr) !=
      SQLITE_OK) {
    return Error("meta");
  }
  sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
  int rc = sqlite3_step(s);
  uint64_t value = rc == SQLITE_ROW ? static_cast<uint64_t>(sqlite3_column_int64(s, 0)) : 0;
  sqlite3_finalize(s);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return Error("meta");
  return value;
}

void StateStore::PackEvent(std::string* row, uint64_t seq, bool session,
                           absl::string_view owner, absl::string_view event) {
  PutU64(row, seq);
  row->push_back(session ? 1 : 0);
  PutU32(row, static_cast<uint32_t>(owner.size()));
  row->append(owner.data(), owner.size());
  PutU32(row, static_cast<uint32_t>(event.size()));
  row->append(event.data(), event.size());
}

void StateStore::PackOp(std::string* row, uint32_t index, absl::string_view event) {
  PutU32(row, index);
  PutU32(row, static_cast<uint32_t>(event.size()));
  row->append(event.data(), event.size());
}

absl::Status StateStore::LoadEvents(uint64_t from_pos,
                                    const std::function<void(StoredEvent&&)>& fn) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_,
                         "SELECT first_pos, last_pos, entries FROM events WHERE last_pos >= ?1 "
                         "ORDER BY first_pos",
                         -1, &s, nullptr) != SQLITE_OK) {
    return Error("events");
  }
  sqlite3_bind_int64(s, 1, static_cast<int64_t>(from_pos));
  int rc;
  bool intact = true;
  while (intact && (rc = sqlite3_step(s)) == SQLITE_ROW) {
    uint64_t pos = static_cast<uint64_t>(sqlite3_column_int64(s, 0));
    const uint64_t last = static_cast<uint64_t>(sqlite3_column_int64(s, 1));
    const std::string row = Column(s, 2);
    Unpacker in(row);
    for (; !in.done(); ++pos) {
      StoredEvent e;
      e.pos = pos;
      e.seq = in.U64();
      e.session = in.U8() != 0;
      e.owner = in.Bytes();
      e.event = in.Bytes();
      if (!in.ok()) break;
      if (pos >= from_pos) fn(std::move(e));
    }
    intact = in.ok() && pos == last + 1;
  }
  sqlite3_finalize(s);
  if (!intact) {
    return absl::DataLossError(absl::StrCat("state store ", path_,
                                            ": an events row does not hold what it says. ",
                                            Remedy(path_)));
  }
  return rc == SQLITE_DONE ? absl::OkStatus() : Error("events");
}

absl::StatusOr<uint64_t> StateStore::EventEnd() {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT max(last_pos) FROM events", -1, &s, nullptr) != SQLITE_OK) {
    return Error("events");
  }
  int rc = sqlite3_step(s);
  uint64_t end = 0;
  if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
    end = static_cast<uint64_t>(sqlite3_column_int64(s, 0)) + 1;
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_ROW) return Error("events");
  return end;
}

absl::StatusOr<std::vector<StoredJob>> StateStore::LoadJobs() {
  std::vector<StoredJob> jobs;
  std::map<uint64_t, size_t> index;
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT id, owner, batch, snapshot, finished FROM jobs ORDER BY id",
                         -1, &s, nullptr) != SQLITE_OK) {
    return Error("jobs");
  }
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    StoredJob j;
    j.id = static_cast<uint64_t>(sqlite3_column_int64(s, 0));
    j.owner = Column(s, 1);
    j.batch = Column(s, 2);
    j.snapshot = Column(s, 3);
    j.finished = sqlite3_column_int(s, 4) != 0;
    index[j.id] = jobs.size();
    jobs.push_back(std::move(j));
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return Error("jobs");
  if (sqlite3_prepare_v2(db_, "SELECT job, ops FROM job_ops ORDER BY rowid", -1, &s, nullptr) !=
      SQLITE_OK) {
    return Error("job_ops");
  }
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    auto it = index.find(static_cast<uint64_t>(sqlite3_column_int64(s, 0)));
    if (it == index.end()) continue;  // its job's row went in the same transaction
    const std::string row = Column(s, 1);
    Unpacker in(row);
    while (!in.done()) {
      const uint32_t op = in.U32();
      std::string event = in.Bytes();
      if (!in.ok()) break;
      jobs[it->second].ops[op] = std::move(event);
    }
    if (!in.ok()) {
      sqlite3_finalize(s);
      return absl::DataLossError(absl::StrCat("state store ", path_,
                                              ": a job_ops row does not hold what it says. ",
                                              Remedy(path_)));
    }
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return Error("job_ops");
  return jobs;
}

absl::Status StateStore::Begin() {
  return sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr) == SQLITE_OK ? absl::OkStatus()
                                                                           : Error("begin");
}

absl::Status StateStore::Commit() {
  return sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK ? absl::OkStatus()
                                                                            : Error("commit");
}

absl::Status StateStore::Rollback() {
  return sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr) == SQLITE_OK
             ? absl::OkStatus()
             : Error("rollback");
}

absl::Status StateStore::PutEvents(uint64_t first_pos, uint64_t last_pos,
                                   const std::string& row) {
  sqlite3_stmt* s = stmts_[kPutEvent];
  sqlite3_bind_int64(s, 1, static_cast<int64_t>(first_pos));
  sqlite3_bind_int64(s, 2, static_cast<int64_t>(last_pos));
  Bind(s, 3, row);
  return Run(s, "events");
}

absl::Status StateStore::TrimEvents(uint64_t before_pos) {
  sqlite3_bind_int64(stmts_[kTrimEvents], 1, static_cast<int64_t>(before_pos));
  return Run(stmts_[kTrimEvents], "trim events");
}

absl::Status StateStore::PutJob(uint64_t id, const std::string& owner, const std::string& batch,
                                const std::string& snapshot) {
  sqlite3_stmt* s = stmts_[kPutJob];
  sqlite3_bind_int64(s, 1, static_cast<int64_t>(id));
  Bind(s, 2, owner);
  Bind(s, 3, batch);
  Bind(s, 4, snapshot);
  return Run(s, "job");
}

absl::Status StateStore::UpdateJob(uint64_t id, const std::string& snapshot, bool finished) {
  sqlite3_stmt* s = stmts_[kUpdateJob];
  sqlite3_bind_int64(s, 1, static_cast<int64_t>(id));
  Bind(s, 2, snapshot);
  sqlite3_bind_int(s, 3, finished ? 1 : 0);
  OVERLAPD_RETURN_IF_ERROR(Run(s, "job state"));
  if (!finished) return absl::OkStatus();
  sqlite3_bind_int64(stmts_[kDeleteJobOps], 1, static_cast<int64_t>(id));
  return Run(stmts_[kDeleteJobOps], "job ops");
}

absl::Status StateStore::PutJobOps(uint64_t id, const std::string& row) {
  sqlite3_stmt* s = stmts_[kPutJobOp];
  sqlite3_bind_int64(s, 1, static_cast<int64_t>(id));
  Bind(s, 2, row);
  return Run(s, "job ops");
}

absl::Status StateStore::DeleteJob(uint64_t id) {
  sqlite3_bind_int64(stmts_[kDeleteJobOps], 1, static_cast<int64_t>(id));
  OVERLAPD_RETURN_IF_ERROR(Run(stmts_[kDeleteJobOps], "job ops"));
  sqlite3_bind_int64(stmts_[kDeleteJob], 1, static_cast<int64_t>(id));
  return Run(stmts_[kDeleteJob], "forget job");
}

absl::Status StateStore::SetMeta(const char* key, uint64_t value) {
  sqlite3_stmt* s = stmts_[kSetMeta];
  sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, static_cast<int64_t>(value));
  return Run(s, "meta");
}

}  // namespace overlapd
