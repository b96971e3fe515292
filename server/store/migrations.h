// The schema's version history and the runner that brings a database file up to date.
// Internal to the store; tests use Migrate with lists of their own.
#ifndef ABLATE_SERVER_STORE_MIGRATIONS_H_
#define ABLATE_SERVER_STORE_MIGRATIONS_H_

#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "server/store/sqlite_conn.h"

namespace ablate::store {

// PRAGMA application_id of an Ablate database: "Ablt" in ASCII. It tells an Ablate file from
// any other SQLite file before its schema version is trusted.
inline constexpr int32_t kApplicationId = 0x41626c74;

// One step of the schema's history.
struct Migration {
  int version;      // the schema version after this migration: 1, 2, 3, ... in order
  const char* sql;  // constant SQL; may hold several statements
  // Runs after `sql`, in the same transaction, for a change SQL cannot make (rewriting values
  // that only C++ can parse); none when null.
  absl::Status (*rewrite)(Connection& conn) = nullptr;
};

// This build's migrations, oldest first; the last one's version is Store::SchemaVersion().
std::span<const Migration> Migrations();

// Brings the database on `conn` to the last version of `migrations` (which must be numbered
// 1, 2, 3, ...): applies, in order, each migration newer than the file's PRAGMA user_version,
// each in its own write transaction together with the version bump and the application id, so
// that a failure leaves the file at the previous version. A file that is another application's,
// or has tables but no Ablate version, is refused with kFailedPrecondition; so is a file whose
// version is newer than the last migration (written by a newer build). Errors name conn.path().
absl::Status Migrate(Connection& conn, std::span<const Migration> migrations);

}  // namespace ablate::store

#endif  // ABLATE_SERVER_STORE_MIGRATIONS_H_
