// The store: jobs, runs, per-step trajectories, evaluations, artifacts and users in one SQLite
// database, queryable with plain SQL (see schema.sql for the tables).
//
// It is three interfaces, one per concept, so that code names only what it uses:
//   JobStore       (job_store.h)       jobs, runs, events, trajectories, update slices
//   ArtifactStore  (artifact_store.h)  a job's files
//   UserStore      (user_store.h)      classes, users, tokens
// Store is all three over one database, and the way to open it.
#ifndef ABLATE_SERVER_STORE_STORE_H_
#define ABLATE_SERVER_STORE_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/store/artifact_store.h"
#include "server/store/job_store.h"
#include "server/store/user_store.h"

namespace ablate::store {

// How Store::Open opens a database file.
struct OpenOptions {
  // The most the database may hold, in bytes (0: no limit), rounded down to whole pages and
  // never below what it holds already. A write that would need more fails with
  // ResourceExhausted, exactly as on a full disk: an operator's cap on the data directory, and
  // the deterministic way to test a full disk.
  int64_t max_bytes = 0;
  // Opens the file read-only, for a data directory the server may not write to: reads work,
  // every write fails with FailedPrecondition naming the file, and nothing on disk changes (no
  // migration, no -wal or -shm file created). The file must exist and be at SchemaVersion().
  bool read_only = false;
};

// Thread-safe: any thread may call any method. Appends serialise on one write connection;
// reads run concurrently with them (WAL mode) on a pool of read connections.
class Store : public JobStore, public ArtifactStore, public UserStore {
 public:
  // Opens the database at `path`, creating it and its schema if needed and applying every
  // migration newer than the file's schema version, in WAL mode with foreign keys on.
  // ":memory:" gives a private in-memory database (for tests). Returns an error naming the path
  // when it cannot be opened or is not an Ablate database.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path);
  // The same, with options; a file that does not exist is an error when read_only.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path,
                                                     const OpenOptions& options);
  ~Store() override = default;

  // The schema version this build writes; Open migrates older files up to it.
  static int SchemaVersion();
};

}  // namespace ablate::store

#endif  // ABLATE_SERVER_STORE_STORE_H_
