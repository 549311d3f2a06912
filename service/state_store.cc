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

constexpr int kFormat = 1;

constexpr char kSchema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS events(pos INTEGER PRIMARY KEY, seq INTEGER NOT NULL,"
    " session INTEGER NOT NULL, owner TEXT NOT NULL, event BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS jobs(id INTEGER PRIMARY KEY, owner TEXT NOT NULL,"
    " batch BLOB NOT NULL, snapshot BLOB NOT NULL, finished INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS job_ops(job INTEGER NOT NULL, idx INTEGER NOT NULL,"
    " event BLOB NOT NULL, PRIMARY KEY(job, idx)) WITHOUT ROWID;";

constexpr const char* kStatements[] = {
    "INSERT OR REPLACE INTO events VALUES(?1, ?2, ?3, ?4, ?5)",
    "DELETE FROM events WHERE pos < ?1",
    "INSERT OR REPLACE INTO jobs VALUES(?1, ?2, ?3, ?4, 0)",
    "UPDATE jobs SET snapshot = ?2, finished = ?3 WHERE id = ?1",
    "DELETE FROM job_ops WHERE job = ?1",
    "INSERT OR REPLACE INTO job_ops VALUES(?1, ?2, ?3)",
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

absl::Status StateStore::LoadEvents(uint64_t from_pos,
                                    const std::function<void(StoredEvent&&)>& fn) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_,
                         "SELECT pos, seq, session, owner, event FROM events WHERE pos >= ?1 "
                         "ORDER BY pos",
                         -1, &s, nullptr) != SQLITE_OK) {
    return Error("events");
  }
  sqlite3_bind_int64(s, 1, static_cast<int64_t>(from_pos));
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    StoredEvent e;
    e.pos = static_cast<uint64_t>(sqlite3_column_int64(s, 0));
    e.seq = static_cast<uint64_t>(sqlite3_column_int64(s, 1));
    e.session = sqlite3_column_int(s, 2) != 0;
    e.owner = Column(s, 3);
    e.event = Column(s, 4);
    fn(std::move(e));
  }
  sqlite3_finalize(s);
  return rc == SQLITE_DONE ? absl::OkStatus() : Error("events");
}

absl::StatusOr<uint64_t> StateStore::EventEnd() {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT max(pos) FROM events", -1, &s, nullptr) != SQLITE_OK) {
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
  if (sqlite3_prepare_v2(db_, "SELECT job, idx, event FROM job_ops", -1, &s, nullptr) !=
      SQLITE_OK) {
    return Error("job_ops");
  }
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    auto it = index.find(static_cast<uint64_t>(sqlite3_column_int64(s, 0)));
    if (it == index.end()) continue;  // its job's row went in the same transaction
    jobs[it->second].ops[static_cast<uint32_t>(sqlite3_column_int64(s, 1))] = Column(s, 2);
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

absl::Status StateStore::PutEvent(uint64_t pos, uint64_t seq, bool session,
                                  const std::string& owner, const std::string& event) {
  sqlite3_stmt* s = stmts_[kPutEvent];
  sqlite3_bind_int64(s, 1, static_cast<int64_t>(pos));
  sqlite3_bind_int64(s, 2, static_cast<int64_t>(seq));
  sqlite3_bind_int(s, 3, session ? 1 : 0);
  Bind(s, 4, owner);
  Bind(s, 5, event);
  return Run(s, "event");
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

absl::Status StateStore::PutJobOp(uint64_t id, uint32_t index, const std::string& event) {
  sqlite3_stmt* s = stmts_[kPutJobOp];
  sqlite3_bind_int64(s, 1, static_cast<int64_t>(id));
  sqlite3_bind_int64(s, 2, index);
  Bind(s, 3, event);
  return Run(s, "job op");
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
