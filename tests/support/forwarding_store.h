// A Store that passes every call to another one: derive from it and override only the calls a
// test or benchmark wants to watch or break (a commit timer, a file system turning read-only).
#ifndef ABLATE_TESTS_SUPPORT_FORWARDING_STORE_H_
#define ABLATE_TESTS_SUPPORT_FORWARDING_STORE_H_

#include <memory>
#include <span>
#include <utility>
#include <variant>

#include "server/store/store.h"

namespace ablate::test_support {

class ForwardingStore : public store::Store {
 public:
  explicit ForwardingStore(std::unique_ptr<store::Store> inner) : inner_(std::move(inner)) {}

  absl::StatusOr<store::JobRecord> CreateJob(const store::NewJob& spec, const std::string& owner,
                                             absl::Time now,
                                             std::optional<int64_t> class_id) override {
    return inner_->CreateJob(spec, owner, now, class_id);
  }
  absl::StatusOr<store::JobRecord> GetJob(int64_t job_id) override { return inner_->GetJob(job_id); }
  absl::StatusOr<store::RunRecord> GetRun(int64_t run_id) override { return inner_->GetRun(run_id); }
  absl::StatusOr<store::JobPage> ListJobs(const store::JobQuery& request,
                                          std::optional<int64_t> class_id) override {
    return inner_->ListJobs(request, class_id);
  }
  absl::StatusOr<std::vector<int64_t>> UnfinishedJobs() override {
    return inner_->UnfinishedJobs();
  }
  absl::StatusOr<int> CountActiveJobs(const std::string& owner) override {
    return inner_->CountActiveJobs(owner);
  }
  absl::StatusOr<std::vector<store::JobCursor>> Append(
      std::span<const store::Event> events) override {
    return inner_->Append(events);
  }
  absl::Status SetJobNotes(int64_t job_id, const std::string& note,
                           const std::vector<std::string>& tags) override {
    return inner_->SetJobNotes(job_id, note, tags);
  }
  absl::Status PutSlurmDispatch(int64_t run_id, const store::SlurmDispatch& dispatch) override {
    return inner_->PutSlurmDispatch(run_id, dispatch);
  }
  absl::StatusOr<std::optional<store::SlurmDispatch>> GetSlurmDispatch(int64_t run_id) override {
    return inner_->GetSlurmDispatch(run_id);
  }
  absl::StatusOr<uint64_t> Cursor(int64_t job_id) override { return inner_->Cursor(job_id); }
  absl::StatusOr<store::StoredUpdate> ReadUpdate(int64_t job_id, uint64_t after,
                                                 int max_events) override {
    return inner_->ReadUpdate(job_id, after, max_events);
  }
  absl::StatusOr<store::Trajectory> GetTrajectory(int64_t run_id) override {
    return inner_->GetTrajectory(run_id);
  }
  absl::Status PutArtifact(int64_t job_id, const store::Artifact& artifact) override {
    return inner_->PutArtifact(job_id, artifact);
  }
  absl::StatusOr<store::Artifact> GetArtifact(int64_t job_id, const std::string& name) override {
    return inner_->GetArtifact(job_id, name);
  }
  absl::StatusOr<int64_t> ArtifactSize(int64_t job_id, const std::string& name) override {
    return inner_->ArtifactSize(job_id, name);
  }
  absl::StatusOr<store::JobAccess> GetJobAccess(int64_t job_id) override {
    return inner_->GetJobAccess(job_id);
  }
  absl::Status DeleteJob(int64_t job_id) override { return inner_->DeleteJob(job_id); }
  absl::StatusOr<int64_t> CreateClass(const std::string& name, absl::Time now) override {
    return inner_->CreateClass(name, now);
  }
  absl::StatusOr<store::User> CreateUser(const std::string& class_name, const std::string& name,
                                         store::Role role, absl::Time now) override {
    return inner_->CreateUser(class_name, name, role, now);
  }
  absl::Status AddToken(const std::string& user_name, const std::string& sha256_hex,
                        const std::string& prefix, absl::Time now) override {
    return inner_->AddToken(user_name, sha256_hex, prefix, now);
  }
  absl::StatusOr<int> RevokeTokens(const std::string& user_name, const std::string& prefix,
                                   absl::Time now) override {
    return inner_->RevokeTokens(user_name, prefix, now);
  }
  absl::StatusOr<std::optional<store::User>> UserByToken(const std::string& sha256_hex) override {
    return inner_->UserByToken(sha256_hex);
  }
  absl::StatusOr<bool> HasUsers() override { return inner_->HasUsers(); }
  absl::StatusOr<std::vector<store::User>> ListUsers(const std::string& class_name) override {
    return inner_->ListUsers(class_name);
  }
  absl::StatusOr<std::map<store::JobState, int64_t>> CountJobs() override {
    return inner_->CountJobs();
  }

 protected:
  store::Store& inner() { return *inner_; }
  // The step events of a batch: what the doubles that fill up or gate commits count.
  static int StepsIn(std::span<const store::Event> events) {
    int steps = 0;
    for (const store::Event& e : events) steps += std::holds_alternative<store::StepEvent>(e);
    return steps;
  }

 private:
  std::unique_ptr<store::Store> inner_;
};

}  // namespace ablate::test_support

#endif  // ABLATE_TESTS_SUPPORT_FORWARDING_STORE_H_
