// Thin RAII wrappers over the SQLite C API, internal to the store: a connection that caches its
// prepared statements, a statement handle that resets itself, and a transaction guard.
//
// None of them is thread-safe: a Connection and everything obtained from it belong to one thread
// at a time (SqliteStore's locks see to that), which is why connections are opened in SQLite's
// multi-thread mode (SQLITE_OPEN_NOMUTEX).
#ifndef ABLATE_SERVER_STORE_SQLITE_CONN_H_
#define ABLATE_SERVER_STORE_SQLITE_CONN_H_

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct sqlite3;
struct sqlite3_stmt;

// Evaluates `expr` (an absl::Status); returns it from the enclosing function unless it is OK.
#define STORE_RETURN_IF_ERROR(expr)             \
  do {                                          \
    if (absl::Status _st = (expr); !_st.ok()) { \
      return _st;                               \
    }                                           \
  } while (0)

#define STORE_CONCAT_INNER_(a, b) a##b
#define STORE_CONCAT_(a, b) STORE_CONCAT_INNER_(a, b)
// `lhs = *expr` for an absl::StatusOr `expr`, or returns its error from the enclosing function.
#define STORE_ASSIGN_OR_RETURN(lhs, expr) \
  STORE_ASSIGN_OR_RETURN_IMPL_(STORE_CONCAT_(_statusor_, __LINE__), lhs, expr)
#define STORE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(tmp).value()

namespace ablate::store {

// The Status for SQLite result code `rc` on `db` (may be null): "<context>: <SQLite's message>",
// with a code that says what a caller can do about it: kUnavailable for a busy or locked
// database, kResourceExhausted for a full disk, kPermissionDenied for a file or file system
// that cannot be written (any more), kDataLoss for a corrupt or non-database file,
// kAlreadyExists for a primary-key or unique conflict, kFailedPrecondition for other constraint
// failures, kInternal otherwise.
absl::Status SqliteError(sqlite3* db, int rc, absl::string_view context);

// One execution of a prepared statement. Binding indexes and column numbers are as in the C API
// (parameters from 1, columns from 0). Destruction resets the statement and clears its
// bindings, so a cached statement is ready for its next user.
class Statement {
 public:
  // Borrows `stmt` from its connection's cache, or owns it (and finalizes it) when `owned`.
  Statement(sqlite3_stmt* stmt, bool owned);
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Binders. A binding error (a bug: an index out of range) is reported by the next Step/Run.
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, double value);
  Statement& BindText(int index, absl::string_view value);
  Statement& BindBlob(int index, absl::string_view value);
  Statement& BindNull(int index);
  // The 1-based index of the named parameter (":name"); 0 when the statement has none.
  int ParameterIndex(const char* name) const;

  // Advances to the next row: true when a row is ready, false when the statement is done.
  absl::StatusOr<bool> Step();
  // Runs a statement that returns no rows (INSERT, UPDATE, ...) to completion.
  absl::Status Run();

  // Columns of the current row.
  bool IsNull(int column) const;
  int64_t Int(int column) const;
  double Double(int column) const;
  std::string Text(int column) const;  // "" for NULL
  std::string Blob(int column) const;  // "" for NULL

 private:
  sqlite3_stmt* stmt_;
  bool owned_;
  int bind_rc_ = 0;  // the first failed binding's result code (0 when none failed)
};

// An open database connection with a cache of its prepared statements.
class Connection {
 public:
  // Opens (creating if needed) the database at `path`, with extended result codes and
  // `busy_timeout_ms` of waiting for locks held by other connections. `read_only` opens an
  // existing file without ever writing to it or beside it (see the .cc for WAL's files). A file
  // it creates is 0600 (owner only, whatever the umask), and so are its -wal and -shm files.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& path,
                                                          int busy_timeout_ms,
                                                          bool read_only = false);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();  // finalizes the cached statements and closes the connection

  // The cached statement for `sql`, prepared on first use. `sql` must be one statement made
  // only of constant text and parameters: values always go through Bind. If the cached
  // statement is still in use (a query running inside another's loop), returns a fresh one.
  absl::StatusOr<Statement> Prepare(absl::string_view sql);

  // Runs constant SQL without parameters (PRAGMAs, BEGIN, a migration script).
  absl::Status Exec(const char* sql);

  // Runs a one-row, one-column query without parameters, e.g. "PRAGMA user_version".
  absl::StatusOr<int64_t> QueryInt(const char* sql);

  const std::string& path() const { return path_; }
  sqlite3* db() const { return db_; }

 private:
  Connection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  sqlite3* const db_;
  const std::string path_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

// A transaction on a connection that is rolled back unless committed.
class Transaction {
 public:
  enum class Mode {
    kRead,   // BEGIN DEFERRED: a consistent snapshot for a group of reads
    kWrite,  // BEGIN IMMEDIATE: takes the write lock now, so it cannot fail later with BUSY
  };
  explicit Transaction(Connection& conn) : conn_(conn) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();  // rolls back if begun and not committed

  absl::Status Begin(Mode mode);
  absl::Status Commit();

 private:
  Connection& conn_;
  bool active_ = false;
};

}  // namespace ablate::store

#endif  // ABLATE_SERVER_STORE_SQLITE_CONN_H_
