// An in-memory store::Store for the artifacts tests: holds jobs and trajectories handed to it
// and records the artifacts written. Only what the artifacts library calls is implemented; the
// rest returns Unimplemented. Thread-safe.
#ifndef ABLATE_TESTS_SERVER_ARTIFACTS_FAKE_STORE_H_
#define ABLATE_TESTS_SERVER_ARTIFACTS_FAKE_STORE_H_

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "server/artifacts/summary.h"
#include "server/store/store.h"

namespace ablate::artifacts::testing {

class FakeStore : public store::Store {
 public:
  // Adds `data`'s job and its runs' trajectories.
  void Add(const JobData& data);
  // Names of the job's stored files, in the order they were first put.
  std::vector<std::string> ArtifactNames(int64_t job_id);

  absl::StatusOr<store::JobRecord> CreateJob(const store::NewJob&, const std::string&, absl::Time,
                                             std::optional<int64_t>) override;
  absl::StatusOr<store::JobRecord> GetJob(int64_t job_id) override;
  absl::StatusOr<store::RunRecord> GetRun(int64_t run_id) override;
  absl::StatusOr<store::JobPage> ListJobs(const store::JobQuery&,
                                          std::optional<int64_t>) override;
  absl::StatusOr<std::vector<int64_t>> UnfinishedJobs() override;
  absl::StatusOr<int> CountActiveJobs(const std::string&) override;
  absl::StatusOr<std::vector<store::JobCursor>> Append(std::span<const store::Event>) override;
  absl::StatusOr<uint64_t> Cursor(int64_t) override;
  absl::StatusOr<store::StoredUpdate> ReadUpdate(int64_t, uint64_t, int) override;
  absl::StatusOr<store::Trajectory> GetTrajectory(int64_t run_id) override;
  absl::Status PutArtifact(int64_t job_id, const store::Artifact& artifact) override;
  absl::StatusOr<store::Artifact> GetArtifact(int64_t job_id, const std::string& name) override;
  absl::StatusOr<int64_t> ArtifactSize(int64_t job_id, const std::string& name) override;
  // Classes, users and tokens: Unimplemented (the artifacts never need them).
  absl::StatusOr<store::JobAccess> GetJobAccess(int64_t) override;
  absl::Status DeleteJob(int64_t) override;
  absl::StatusOr<int64_t> CreateClass(const std::string&, absl::Time) override;
  absl::StatusOr<store::User> CreateUser(const std::string&, const std::string&, store::Role,
                                         absl::Time) override;
  absl::Status AddToken(const std::string&, const std::string&, const std::string&,
                        absl::Time) override;
  absl::StatusOr<int> RevokeTokens(const std::string&, const std::string&, absl::Time) override;
  absl::StatusOr<std::optional<store::User>> UserByToken(const std::string&) override;
  absl::StatusOr<bool> HasUsers() override;
  absl::StatusOr<std::vector<store::User>> ListUsers(const std::string&) override;

 private:
  std::mutex mutex_;
  std::map<int64_t, store::JobRecord> jobs_;
  std::map<int64_t, store::Trajectory> trajectories_;
  std::map<int64_t, std::vector<store::Artifact>> artifacts_;
};

}  // namespace ablate::artifacts::testing

#endif  // ABLATE_TESTS_SERVER_ARTIFACTS_FAKE_STORE_H_
