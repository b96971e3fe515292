#include "server/store/sqlite_conn.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ablate::store {

absl::Status SqliteError(sqlite3* db, int rc, absl::string_view context) {
  // sqlite3_errmsg describes the connection's most recent failure, which is `rc` only when the
  // caller reports it at once; sqlite3_errstr is the fallback without a connection.
  const char* detail =
      db != nullptr && sqlite3_extended_errcode(db) == rc ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string message = absl::StrCat(context, ": ", detail);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(message);
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(message);
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return absl::PermissionDeniedError(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(message);
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
        return absl::AlreadyExistsError(message);
      }
      return absl::FailedPreconditionError(message);
    default:
      return absl::InternalError(message);
  }
}

// --- Statement --------------------------------------------------------------------------------

Statement::Statement(sqlite3_stmt* stmt, bool owned) : stmt_(stmt), owned_(owned) {}

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), owned_(other.owned_), bind_rc_(other.bind_rc_) {}

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  if (owned_) {
    sqlite3_finalize(stmt_);
  } else {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Statement& Statement::Bind(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && bind_rc_ == 0) bind_rc_ = rc;
  return *this;
}

Statement& Statement::Bind(int index, double value) {
  int rc = sqlite3_bind_double(stmt_, index, value);
  if (rc != SQLITE_OK && bind_rc_ == 0) bind_rc_ = rc;
  return *this;
}

Statement& Statement::BindText(int index, absl::string_view value) {
  // SQLITE_TRANSIENT: SQLite copies the bytes, so the caller's string may die before Step.
  int rc =
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_rc_ == 0) bind_rc_ = rc;
  return *this;
}

Statement& Statement::BindBlob(int index, absl::string_view value) {
  // A zero-length blob must still be a blob, not NULL: sqlite3_bind_blob64 with a null pointer
  // binds NULL, so give it a valid one.
  static const char kEmpty = 0;
  const char* data = value.empty() ? &kEmpty : value.data();
  int rc = sqlite3_bind_blob64(stmt_, index, data, value.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_rc_ == 0) bind_rc_ = rc;
  return *this;
}

Statement& Statement::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK && bind_rc_ == 0) bind_rc_ = rc;
  return *this;
}

int Statement::ParameterIndex(const char* name) const {
  return sqlite3_bind_parameter_index(stmt_, name);
}

absl::StatusOr<bool> Statement::Step() {
  sqlite3* db = sqlite3_db_handle(stmt_);
  if (bind_rc_ != 0) {
    return SqliteError(nullptr, bind_rc_, absl::StrCat("binding ", sqlite3_sql(stmt_)));
  }
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(db, rc, sqlite3_sql(stmt_));
}

absl::Status Statement::Run() {
  absl::StatusOr<bool> row = Step();
  if (!row.ok()) return row.status();
  // Running to completion matters: a statement left mid-way keeps its transaction's locks.
  while (*row) {
    row = Step();
    if (!row.ok()) return row.status();
  }
  return absl::OkStatus();
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

double Statement::Double(int column) const { return sqlite3_column_double(stmt_, column); }

std::string Statement::Text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(text), sqlite3_column_bytes(stmt_, column));
}

std::string Statement::Blob(int column) const {
  const void* blob = sqlite3_column_blob(stmt_, column);
  if (blob == nullptr) return std::string();
  return std::string(static_cast<const char*>(blob), sqlite3_column_bytes(stmt_, column));
}

// --- Connection -------------------------------------------------------------------------------

namespace {

// `path` as a file: URI with `query`, escaping what a URI would read as syntax.
std::string FileUri(const std::string& path, absl::string_view query) {
  std::string uri = "file:";
  for (char c : path) {
    if (c == '%' || c == '?' || c == '#') {
      absl::StrAppend(&uri, "%", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    } else {
      uri += c;
    }
  }
  return absl::StrCat(uri, "?", query);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const std::string& path,
                                                             int busy_timeout_ms, bool read_only) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  std::string name = path;
  if (read_only) {
    flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
    // A WAL database is read through its -shm index, which SQLite creates beside the file when
    // it is missing (https://sqlite.org/wal.html#readonly) - impossible in a read-only
    // directory. A server that stopped cleanly left no -wal file, so the database file alone
    // is the whole database and "immutable" tells SQLite to read it without -shm or locks.
    // After a crash the -wal file (and its -shm) hold committed transactions: then SQLite
    // opens them read-only and reads them too.
    std::error_code error;
    name = std::filesystem::exists(path + "-wal", error) ? FileUri(path, "mode=ro")
                                                          : FileUri(path, "immutable=1");
  }
  if (!read_only && path != ":memory:") {
    // A database holds every user's jobs and (hashed) tokens: only the server's user may read
    // it. SQLite would create the file 0644 less the umask; created here first, it is 0600
    // whatever the umask, and SQLite gives its -wal and -shm files the database's mode. An
    // existing file keeps the mode its operator gave it.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::fchmod(fd, 0600);  // a umask that takes the owner's bits away does not apply either
      ::close(fd);
    }
  }
  int rc = sqlite3_open_v2(name.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status = SqliteError(db, rc, absl::StrCat("cannot open ", path));
    sqlite3_close(db);  // sqlite3_open_v2 allocates a handle even when it fails
    return status;
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms);
  return std::unique_ptr<Connection>(new Connection(db, path));
}

Connection::~Connection() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

absl::StatusOr<Statement> Connection::Prepare(absl::string_view sql) {
  auto it = statements_.find(std::string(sql));
  if (it != statements_.end() && !sqlite3_stmt_busy(it->second)) {
    return Statement(it->second, /*owned=*/false);
  }
  sqlite3_stmt* stmt = nullptr;
  // PERSISTENT: a hint that the statement lives long, so SQLite allocates it accordingly.
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    return SqliteError(db_, rc, absl::StrCat("preparing ", sql));
  }
  if (it != statements_.end()) return Statement(stmt, /*owned=*/true);  // the cached one is busy
  statements_.emplace(std::string(sql), stmt);
  return Statement(stmt, /*owned=*/false);
}

absl::Status Connection::Exec(const char* sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return absl::OkStatus();
  std::string detail = error != nullptr ? error : sqlite3_errstr(rc);
  sqlite3_free(error);
  absl::string_view head(sql);
  if (head.size() > 60) head = head.substr(0, 60);
  // Through SqliteError for its code mapping; the message is exec's, which is the precise one.
  absl::Status status = SqliteError(nullptr, rc, "");
  return absl::Status(status.code(), absl::StrCat(path_, ": ", detail, " (in: ", head, ")"));
}

absl::StatusOr<int64_t> Connection::QueryInt(const char* sql) {
  STORE_ASSIGN_OR_RETURN(Statement stmt, Prepare(sql));
  STORE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::InternalError(absl::StrCat(sql, " returned no row"));
  return stmt.Int(0);
}

// --- Transaction ------------------------------------------------------------------------------

Transaction::~Transaction() {
  // A failed statement may already have rolled the transaction back (SQLITE_FULL, IOERR, ...):
  // get_autocommit says whether there is still one to end.
  if (active_ && !sqlite3_get_autocommit(conn_.db())) {
    if (absl::StatusOr<Statement> rollback = conn_.Prepare("ROLLBACK"); rollback.ok()) {
      rollback->Run().IgnoreError();
    }
  }
}

// BEGIN and COMMIT go through the statement cache like everything else: an Append of one step
// is a handful of statements, and parsing two of them anew each time showed in its cost.
absl::Status Transaction::Begin(Mode mode) {
  STORE_ASSIGN_OR_RETURN(
      Statement begin, conn_.Prepare(mode == Mode::kWrite ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED"));
  STORE_RETURN_IF_ERROR(begin.Run());
  active_ = true;
  return absl::OkStatus();
}

absl::Status Transaction::Commit() {
  STORE_ASSIGN_OR_RETURN(Statement commit, conn_.Prepare("COMMIT"));
  STORE_RETURN_IF_ERROR(commit.Run());
  active_ = false;
  return absl::OkStatus();
}

}  // namespace ablate::store
