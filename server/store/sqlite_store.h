// The SQLite implementation of Store, behind Store::Open. Code outside server/store/ uses Store
// (or one of its interfaces). Its methods are defined by concept: sqlite_store.cc (opening,
// connections), sqlite_jobs.cc, sqlite_append.cc, sqlite_updates.cc, sqlite_artifacts.cc and
// sqlite_users.cc; sqlite_codecs.h holds the row codecs they share.
#ifndef ABLATE_SERVER_STORE_SQLITE_STORE_H_
#define ABLATE_SERVER_STORE_SQLITE_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/store/sqlite_conn.h"
#include "server/store/store.h"

namespace ablate::store {

class SqliteStore final : public Store {
 public:
  // Connections to a file database that serve reads while the writer works.
  static constexpr int kReadConnections = 4;
  // How long a statement waits for a lock held by another process before failing.
  static constexpr int kBusyTimeoutMs = 5000;

  // What Store::Open does.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                           const OpenOptions& options = {});
  ~SqliteStore() override = default;

  absl::StatusOr<JobRecord> CreateJob(const NewJob& job, const std::string& owner,
                                      absl::Time now, std::optional<int64_t> class_id) override;
  absl::StatusOr<JobRecord> GetJob(int64_t job_id) override;
  absl::StatusOr<RunRecord> GetRun(int64_t run_id) override;
  absl::StatusOr<JobPage> ListJobs(const JobQuery& query,
                                   std::optional<int64_t> class_id) override;
  absl::StatusOr<std::vector<int64_t>> UnfinishedJobs() override;
  absl::StatusOr<int> CountActiveJobs(const std::string& owner) override;
  absl::StatusOr<std::vector<JobCursor>> Append(std::span<const Event> events) override;
  absl::StatusOr<uint64_t> Cursor(int64_t job_id) override;
  absl::StatusOr<StoredUpdate> ReadUpdate(int64_t job_id, uint64_t after, int max_events) override;
  absl::StatusOr<Trajectory> GetTrajectory(int64_t run_id) override;
  absl::Status PutArtifact(int64_t job_id, const Artifact& artifact) override;
  absl::StatusOr<Artifact> GetArtifact(int64_t job_id, const std::string& name) override;
  absl::StatusOr<int64_t> ArtifactSize(int64_t job_id, const std::string& name) override;
  absl::StatusOr<JobAccess> GetJobAccess(int64_t job_id) override;
  absl::Status DeleteJob(int64_t job_id) override;
  absl::StatusOr<int64_t> CreateClass(const std::string& name, absl::Time now) override;
  absl::StatusOr<User> CreateUser(const std::string& class_name, const std::string& name, Role role,
                                  absl::Time now) override;
  absl::Status AddToken(const std::string& user_name, const std::string& sha256_hex,
                        const std::string& prefix, absl::Time now) override;
  absl::StatusOr<int> RevokeTokens(const std::string& user_name, const std::string& prefix,
                                   absl::Time now) override;
  absl::StatusOr<std::optional<User>> UserByToken(const std::string& sha256_hex) override;
  absl::StatusOr<bool> HasUsers() override;
  absl::Status PutSlurmDispatch(int64_t run_id, const SlurmDispatch& dispatch) override;
  absl::StatusOr<std::optional<SlurmDispatch>> GetSlurmDispatch(int64_t run_id) override;
  absl::StatusOr<std::vector<User>> ListUsers(const std::string& class_name) override;
  absl::StatusOr<std::map<JobState, int64_t>> CountJobs() override;
  absl::Status SetJobNotes(int64_t job_id, const std::string& note,
                           const std::vector<std::string>& tags) override;

 private:
  // `readers` empty: reads share `writer` (":memory:", where every connection would open a
  // separate database).
  // `read_only`: every Write fails, naming `path`.
  SqliteStore(std::unique_ptr<Connection> writer, std::vector<std::unique_ptr<Connection>> readers,
              std::string path, bool read_only);

  // Runs `fn(Connection&)` inside a read transaction on a read connection (waiting for a free
  // one), or on the write connection under write_mu_ when there are no readers.
  template <typename Fn>
  auto Read(Fn&& fn) -> decltype(fn(std::declval<Connection&>()));
  // Runs `fn(Connection&)` inside a write transaction under write_mu_, committing when it
  // returns OK and rolling back otherwise.
  template <typename Fn>
  auto Write(Fn&& fn) -> decltype(fn(std::declval<Connection&>()));

  // Takes an idle read connection out of the pool, waiting for one.
  std::unique_ptr<Connection> TakeReader() ABSL_LOCKS_EXCLUDED(readers_mu_);
  // Puts a read connection back and wakes one waiting TakeReader.
  void ReturnReader(std::unique_ptr<Connection> reader) ABSL_LOCKS_EXCLUDED(readers_mu_);

  const bool shared_connection_;
  const std::string path_;
  const bool read_only_;

  // Every write: one connection, one transaction at a time. SQLite allows one writer per
  // database anyway; serialising here keeps writers from waiting on SQLite's busy handler.
  // (With ":memory:" every read takes it too: reads share the write connection.)
  absl::Mutex write_mu_;
  const std::unique_ptr<Connection> writer_ ABSL_PT_GUARDED_BY(write_mu_);

  // Idle read connections. A reader is taken out for one read transaction and put back; while
  // it is out, the thread that took it is its only user.
  absl::Mutex readers_mu_;
  absl::CondVar reader_returned_;  // signalled, under readers_mu_, when a reader is put back
  std::vector<std::unique_ptr<Connection>> idle_readers_ ABSL_GUARDED_BY(readers_mu_);
};

// --- Transactions (templates: every sqlite_*.cc instantiates them) ------------------------------

// Status of either a Status or a StatusOr, for code generic over both.
inline const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& result) {
  return result.status();
}

// Runs `fn(conn)` inside a transaction of `mode`; commits only when it succeeded.
template <typename Fn>
auto InTransaction(Connection& conn, Transaction::Mode mode, Fn& fn)
    -> decltype(fn(std::declval<Connection&>())) {
  Transaction txn(conn);
  STORE_RETURN_IF_ERROR(txn.Begin(mode));
  auto result = fn(conn);
  if (!StatusOf(result).ok()) return result;  // ~Transaction rolls back
  STORE_RETURN_IF_ERROR(txn.Commit());
  return result;
}

template <typename Fn>
auto SqliteStore::Read(Fn&& fn) -> decltype(fn(std::declval<Connection&>())) {
  if (shared_connection_) {
    absl::MutexLock lock(&write_mu_);
    return InTransaction(*writer_, Transaction::Mode::kRead, fn);
  }
  // Puts the reader back however fn ends.
  struct Lease {
    SqliteStore* store;
    std::unique_ptr<Connection> conn;
    ~Lease() {
      if (conn != nullptr) store->ReturnReader(std::move(conn));
    }
  };
  Lease lease{this, TakeReader()};
  return InTransaction(*lease.conn, Transaction::Mode::kRead, fn);
}

template <typename Fn>
auto SqliteStore::Write(Fn&& fn) -> decltype(fn(std::declval<Connection&>())) {
  if (read_only_) {
    return absl::FailedPreconditionError(
        absl::StrCat("the database ", path_, " is open read-only; nothing can be changed"));
  }
  absl::MutexLock lock(&write_mu_);
  return InTransaction(*writer_, Transaction::Mode::kWrite, fn);
}

}  // namespace ablate::store

#endif  // ABLATE_SERVER_STORE_SQLITE_STORE_H_
