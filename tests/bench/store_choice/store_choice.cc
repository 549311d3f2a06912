// Measures the job journal's pattern on the three embedded stores Debian 12
// ships: small appends committed in groups, each commit durable (fsync), then
// a range scan of the last N records, as a restart reads them. It is the
// measurement behind docs/DURABILITY.md; it is not part of the product and
// links LMDB and RocksDB only here (tests/bench/store_choice/run.sh builds it).
//
// Usage: store_choice DIR RECORDS GROUP
#include <lmdb.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A terminal event as the journal stores it: ~180 bytes of protobuf.
std::string Record(uint64_t i) {
  std::string r(180, 'x');
  std::memcpy(r.data(), &i, sizeof i);
  return r;
}

void BigEndian(uint64_t v, unsigned char* out) {
  for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<unsigned char>(v);
}

struct Result {
  double append_s = 0, scan_s = 0;
  uint64_t scanned = 0;
};

void Check(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "%s: %d\n", what, rc);
    std::exit(1);
  }
}

Result Sqlite(const std::string& dir, uint64_t n, uint64_t group) {
  Result r;
  sqlite3* db;
  Check(sqlite3_open((dir + "/j.db").c_str(), &db), "open");
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
               "CREATE TABLE ev(pos INTEGER PRIMARY KEY, seq INTEGER, e BLOB);",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* ins;
  sqlite3_prepare_v2(db, "INSERT INTO ev VALUES(?,?,?)", -1, &ins, nullptr);
  double t0 = Now();
  for (uint64_t i = 0; i < n;) {
    sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    for (uint64_t k = 0; k < group && i < n; ++k, ++i) {
      std::string rec = Record(i);
      sqlite3_bind_int64(ins, 1, static_cast<int64_t>(i));
      sqlite3_bind_int64(ins, 2, static_cast<int64_t>(i + 1));
      sqlite3_bind_blob(ins, 3, rec.data(), static_cast<int>(rec.size()), SQLITE_TRANSIENT);
      Check(sqlite3_step(ins) == SQLITE_DONE ? 0 : 1, "insert");
      sqlite3_reset(ins);
    }
    Check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), "commit");
  }
  r.append_s = Now() - t0;
  sqlite3_finalize(ins);
  sqlite3_close(db);
  Check(sqlite3_open((dir + "/j.db").c_str(), &db), "reopen");
  sqlite3_stmt* scan;
  sqlite3_prepare_v2(db, "SELECT pos, seq, e FROM ev WHERE pos >= ? ORDER BY pos", -1, &scan,
                     nullptr);
  t0 = Now();
  sqlite3_bind_int64(scan, 1, 0);
  while (sqlite3_step(scan) == SQLITE_ROW) {
    r.scanned += static_cast<uint64_t>(sqlite3_column_bytes(scan, 2)) > 0;
  }
  r.scan_s = Now() - t0;
  sqlite3_finalize(scan);
  sqlite3_close(db);
  return r;
}

Result Lmdb(const std::string& dir, uint64_t n, uint64_t group) {
  Result r;
  MDB_env* env;
  Check(mdb_env_create(&env), "env");
  mdb_env_set_mapsize(env, size_t{4} << 30);
  Check(mdb_env_open(env, dir.c_str(), 0, 0644), "env open");
  MDB_dbi dbi;
  double t0 = Now();
  for (uint64_t i = 0; i < n;) {
    MDB_txn* txn;
    Check(mdb_txn_begin(env, nullptr, 0, &txn), "txn");
    Check(mdb_dbi_open(txn, nullptr, 0, &dbi), "dbi");
    for (uint64_t k = 0; k < group && i < n; ++k, ++i) {
      unsigned char key[8];
      BigEndian(i, key);
      std::string rec = Record(i);
      MDB_val kv{8, key}, vv{rec.size(), rec.data()};
      Check(mdb_put(txn, dbi, &kv, &vv, MDB_APPEND), "put");
    }
    Check(mdb_txn_commit(txn), "commit");  // msync/fdatasync per commit
  }
  r.append_s = Now() - t0;
  MDB_txn* txn;
  mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn);
  MDB_cursor* cur;
  mdb_cursor_open(txn, dbi, &cur);
  MDB_val kv, vv;
  t0 = Now();
  for (int rc = mdb_cursor_get(cur, &kv, &vv, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &kv, &vv, MDB_NEXT)) {
    std::string copy(static_cast<char*>(vv.mv_data), vv.mv_size);  // as a load would
    r.scanned += !copy.empty();
  }
  r.scan_s = Now() - t0;
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return r;
}

Result Rocks(const std::string& dir, uint64_t n, uint64_t group) {
  Result r;
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* db;
  if (!rocksdb::DB::Open(options, dir + "/rocks", &db).ok()) std::exit(1);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  double t0 = Now();
  for (uint64_t i = 0; i < n;) {
    rocksdb::WriteBatch batch;
    for (uint64_t k = 0; k < group && i < n; ++k, ++i) {
      unsigned char key[8];
      BigEndian(i, key);
      batch.Put(rocksdb::Slice(reinterpret_cast<char*>(key), 8), Record(i));
    }
    if (!db->Write(wo, &batch).ok()) std::exit(1);
  }
  r.append_s = Now() - t0;
  delete db;
  if (!rocksdb::DB::Open(options, dir + "/rocks", &db).ok()) std::exit(1);
  t0 = Now();
  rocksdb::Iterator* it = db->NewIterator(rocksdb::ReadOptions());
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string copy = it->value().ToString();
    r.scanned += !copy.empty();
  }
  r.scan_s = Now() - t0;
  delete it;
  delete db;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: store_choice DIR RECORDS GROUP\n");
    return 2;
  }
  const std::string dir = argv[1];
  const uint64_t n = std::strtoull(argv[2], nullptr, 10);
  const uint64_t group = std::strtoull(argv[3], nullptr, 10);
  struct Store {
    const char* name;
    Result (*run)(const std::string&, uint64_t, uint64_t);
  } stores[] = {{"sqlite-wal", Sqlite}, {"lmdb", Lmdb}, {"rocksdb", Rocks}};
  for (const Store& s : stores) {
    std::string d = dir + "/" + s.name;
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    Result r = s.run(d, n, group);
    uintmax_t bytes = 0;
    for (auto& f : std::filesystem::recursive_directory_iterator(d)) {
      if (f.is_regular_file()) bytes += f.file_size();
    }
    std::printf("%-10s group=%-5llu append %9.0f rec/s %8.0f commits/s  scan %10.0f rec/s  disk %6.1f MiB\n",
                s.name, static_cast<unsigned long long>(group), n / r.append_s,
                (n + group - 1) / group / r.append_s, r.scanned / r.scan_s,
                bytes / 1048576.0);
    std::filesystem::remove_all(d);
  }
  return 0;
}
