// The SQLite implementation of Store, behind Store::Open. Code outside server/store/ uses Store.
#ifndef ABLATE_SERVER_STORE_SQLITE_STORE_H_
#define ABLATE_SERVER_STORE_SQLITE_STORE_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

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

  absl::StatusOr<v1::Job> CreateJob(const v1::JobSpec& spec, const std::string& owner,
                                    absl::Time now, std::optional<int64_t> class_id) override;
  absl::StatusOr<v1::Job> GetJob(int64_t job_id) override;
  absl::StatusOr<v1::Run> GetRun(int64_t run_id) override;
  absl::StatusOr<JobPage> ListJobs(const v1::ListJobsRequest& request,
                                   std::optional<int64_t> class_id) override;
  absl::StatusOr<std::vector<int64_t>> UnfinishedJobs() override;
  absl::StatusOr<int> CountActiveJobs(const std::string& owner) override;
  absl::StatusOr<std::vector<JobCursor>> Append(std::span<const Event> events) override;
  absl::StatusOr<uint64_t> Cursor(int64_t job_id) override;
  absl::StatusOr<v1::JobUpdate> ReadUpdate(int64_t job_id, uint64_t after, int max_events) override;
  absl::StatusOr<Trajectory> GetTrajectory(int64_t run_id) override;
  absl::Status PutArtifact(int64_t job_id, const Artifact& artifact) override;
  absl::StatusOr<Artifact> GetArtifact(int64_t job_id, const std::string& name) override;
  absl::StatusOr<std::vector<std::string>> ListArtifacts(int64_t job_id) override;
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
  absl::StatusOr<std::map<v1::JobState, int64_t>> CountJobs() override;
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

  const bool shared_connection_;
  const std::string path_;
  const bool read_only_;

  // Every write: one connection, one transaction at a time. SQLite allows one writer per
  // database anyway; serialising here keeps writers from waiting on SQLite's busy handler.
  std::mutex write_mu_;
  const std::unique_ptr<Connection> writer_;  // GUARDED_BY(write_mu_): the connection's use

  // Idle read connections. A reader is taken out for one read transaction and put back.
  std::mutex readers_mu_;
  std::condition_variable reader_returned_;
  std::vector<std::unique_ptr<Connection>> idle_readers_;  // GUARDED_BY(readers_mu_)
};

}  // namespace ablate::store

#endif  // ABLATE_SERVER_STORE_SQLITE_STORE_H_
