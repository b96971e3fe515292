// How the store works, in brief (schema.sql has the tables):
//
// * Connections. One write connection, used under write_mu_, carries every transaction that
//   changes the database; a pool of read connections serves everything else, each read in a
//   transaction of its own, so a read is one consistent snapshot while WAL lets it run beside
//   the writer. ":memory:" has no pool: a second connection would open a second, empty
//   database, so reads share the write connection and its mutex.
// * SQL. Every statement is constant text prepared once per connection and cached; values are
//   always bound. The one assembled statement, ListJobs', is assembled from constant
//   fragments.
// * Indexes, and which query each serves:
//     steps PRIMARY KEY (run_id, step)   GetTrajectory; duplicate-step detection
//     steps_by_seq (run_id, seq)         ReadUpdate's steps in (after, cursor]
//     evals PRIMARY KEY, evals_by_seq    the same for evaluations
//     runs UNIQUE (job_id, idx)          a job's runs: GetJob, ReadUpdate, ListJobs' init filter
//     jobs_by_owner (owner, id)          ListJobs by owner, newest first, from the page token
//     jobs_by_state (state, id)          ListJobs by state; UnfinishedJobs
//     jobs INTEGER PRIMARY KEY           ListJobs unfiltered: walked down from the page token
//     artifacts UNIQUE (job_id, name)    GetArtifact, PutArtifact's upsert
//   A ReadUpdate is therefore a few range scans whose cost follows what it returns, not how
//   long the job has run. (Checked with EXPLAIN QUERY PLAN on this schema.)
#include "server/store/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/store/migrations.h"

namespace ablate::store {

namespace {

// The first read of a file fails where SQLite finds that it is not a database at all, or a
// damaged one (SQLITE_NOTADB or SQLITE_CORRUPT: both kDataLoss, told apart by SQLite's words).
// The second is most likely this server's own database, and what to do about it is different.
absl::Status Unreadable(const std::string& path, const absl::Status& read) {
  if (absl::StrContains(read.message(), "malformed")) {
    return absl::DataLossError(absl::StrCat(
        path, " is damaged (", read.message(),
        "): restore the latest backup in its place (README, \"Backup and restore\"), or move it "
        "aside to start with an empty database"));
  }
  return absl::FailedPreconditionError(
      absl::StrCat(path, " is not an Ablate database: ", read.message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  return Open(path, OpenOptions{});
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path,
                                                   const OpenOptions& options) {
  STORE_ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> store, SqliteStore::Open(path, options));
  return std::unique_ptr<Store>(std::move(store));
}

int Store::SchemaVersion() { return Migrations().back().version; }

// --- SqliteStore ------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                               const OpenOptions& options) {
  if (path.empty()) {
    return absl::InvalidArgumentError(
        "the store's path is empty: give a database file or \":memory:\"");
  }
  const bool in_memory = path == ":memory:";
  if (options.read_only) {
    if (in_memory) {
      return absl::InvalidArgumentError("an in-memory store cannot be opened read-only");
    }
    std::error_code error;
    if (!std::filesystem::exists(path, error)) {
      return absl::NotFoundError(
          absl::StrCat("cannot open ", path, " read-only: the file does not exist"));
    }
    std::vector<std::unique_ptr<Connection>> connections;
    for (int i = 0; i <= kReadConnections; ++i) {
      STORE_ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn,
                             Connection::Open(path, kBusyTimeoutMs, /*read_only=*/true));
      STORE_RETURN_IF_ERROR(conn->Exec("PRAGMA foreign_keys = ON; PRAGMA query_only = ON"));
      connections.push_back(std::move(conn));
    }
    std::unique_ptr<Connection> first = std::move(connections.back());
    connections.pop_back();
    auto version = first->QueryInt("PRAGMA user_version");
    if (!version.ok()) return Unreadable(path, version.status());
    if (*version != SchemaVersion()) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, " has schema version ", *version, " and this server needs ", SchemaVersion(),
          "; a read-only database cannot be migrated (open it once writable)"));
    }
    return std::unique_ptr<SqliteStore>(
        new SqliteStore(std::move(first), std::move(connections), path, /*read_only=*/true));
  }
  STORE_ASSIGN_OR_RETURN(std::unique_ptr<Connection> writer,
                         Connection::Open(path, kBusyTimeoutMs));
  // The first read of the file is where SQLite notices that it is not a database at all.
  if (auto id = writer->QueryInt("PRAGMA application_id"); !id.ok()) {
    return Unreadable(path, id.status());
  }
  if (!in_memory) {
    // WAL: readers see the last committed state while the writer works, and a commit is one
    // append to the log. NORMAL sync is safe with WAL (a power cut can lose the last commits,
    // never corrupt the file) and saves an fsync per transaction.
    STORE_ASSIGN_OR_RETURN(Statement stmt, writer->Prepare("PRAGMA journal_mode = WAL"));
    STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    std::string mode = row ? absl::AsciiStrToLower(stmt.Text(0)) : "";
    if (mode != "wal") {
      return absl::FailedPreconditionError(absl::StrCat("cannot put ", path,
                                                        " in WAL mode (journal mode is \"", mode,
                                                        "\"); is it on a network file system?"));
    }
  }
  STORE_RETURN_IF_ERROR(writer->Exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON"));
  STORE_RETURN_IF_ERROR(Migrate(*writer, Migrations()));
  if (options.max_bytes > 0) {
    // max_page_count belongs to the connection, and only the writer grows the file.
    STORE_ASSIGN_OR_RETURN(int64_t page_size, writer->QueryInt("PRAGMA page_size"));
    const int64_t pages = std::max<int64_t>(1, options.max_bytes / page_size);
    const std::string pragma = absl::StrCat("PRAGMA max_page_count = ", pages);
    STORE_RETURN_IF_ERROR(writer->Exec(pragma.c_str()));
  }

  std::vector<std::unique_ptr<Connection>> readers;
  if (!in_memory) {
    for (int i = 0; i < kReadConnections; ++i) {
      STORE_ASSIGN_OR_RETURN(std::unique_ptr<Connection> reader,
                             Connection::Open(path, kBusyTimeoutMs));
      // query_only: a read connection that tried to write would be a bug in this file.
      STORE_RETURN_IF_ERROR(reader->Exec("PRAGMA foreign_keys = ON; PRAGMA query_only = ON"));
      readers.push_back(std::move(reader));
    }
  }
  return std::unique_ptr<SqliteStore>(
      new SqliteStore(std::move(writer), std::move(readers), path, /*read_only=*/false));
}

SqliteStore::SqliteStore(std::unique_ptr<Connection> writer,
                         std::vector<std::unique_ptr<Connection>> readers, std::string path,
                         bool read_only)
    : shared_connection_(readers.empty()),
      path_(std::move(path)),
      read_only_(read_only),
      writer_(std::move(writer)),
      idle_readers_(std::move(readers)) {}

std::unique_ptr<Connection> SqliteStore::TakeReader() {
  absl::MutexLock lock(&readers_mu_);
  while (idle_readers_.empty()) reader_returned_.Wait(&readers_mu_);
  std::unique_ptr<Connection> reader = std::move(idle_readers_.back());
  idle_readers_.pop_back();
  return reader;
}

void SqliteStore::ReturnReader(std::unique_ptr<Connection> reader) {
  absl::MutexLock lock(&readers_mu_);
  idle_readers_.push_back(std::move(reader));
  reader_returned_.Signal();
}

}  // namespace ablate::store
