#include "tests/server/artifacts/fake_store.h"

#include "absl/strings/str_cat.h"
#include "server/service/wire.h"

namespace ablate::artifacts::testing {

namespace {

std::optional<absl::Time> TimeOf(bool has, const google::protobuf::Timestamp& ts) {
  if (!has) return std::nullopt;
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

// The record the store would hold for `job`.
store::JobRecord RecordOf(const v1::Job& job) {
  store::JobRecord record;
  record.id = job.id();
  record.name = job.name();
  record.owner = job.owner();
  record.state = wire::StateFromProto(job.state());
  record.spec_proto = job.spec().SerializeAsString();
  for (const v1::Run& run : job.runs()) record.runs.push_back(wire::RunSummaryFromProto(run));
  record.created_at = TimeOf(true, job.created_at()).value();
  record.started_at = TimeOf(job.has_started_at(), job.started_at());
  record.finished_at = TimeOf(job.has_finished_at(), job.finished_at());
  record.error = job.error();
  record.note = job.note();
  record.tags.assign(job.tags().begin(), job.tags().end());
  return record;
}

}  // namespace

void FakeStore::Add(const JobData& data) {
  std::lock_guard lock(mutex_);
  jobs_[data.job.id()] = RecordOf(data.job);
  for (const store::Trajectory& t : data.trajectories) trajectories_[t.run_id] = t;
}

absl::StatusOr<store::JobRecord> FakeStore::CreateJob(const store::NewJob&, const std::string&,
                                                      absl::Time, std::optional<int64_t>) {
  return absl::UnimplementedError("FakeStore::CreateJob");
}

absl::StatusOr<store::JobRecord> FakeStore::GetJob(int64_t job_id) {
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job ", job_id, "."));
  return it->second;
}

absl::StatusOr<store::RunRecord> FakeStore::GetRun(int64_t run_id) {
  std::lock_guard lock(mutex_);
  for (const auto& [id, job] : jobs_) {
    for (const store::RunRecord& run : job.runs) {
      if (run.id == run_id) return run;
    }
  }
  return absl::NotFoundError(absl::StrCat("no run ", run_id, "."));
}

absl::StatusOr<store::JobPage> FakeStore::ListJobs(const store::JobQuery&,
                                                   std::optional<int64_t>) {
  return absl::UnimplementedError("FakeStore::ListJobs");
}

absl::StatusOr<std::vector<int64_t>> FakeStore::UnfinishedJobs() {
  return absl::UnimplementedError("FakeStore::UnfinishedJobs");
}

absl::StatusOr<int> FakeStore::CountActiveJobs(const std::string&) {
  return absl::UnimplementedError("FakeStore::CountActiveJobs");
}

absl::StatusOr<std::vector<store::JobCursor>> FakeStore::Append(std::span<const store::Event>) {
  return absl::UnimplementedError("FakeStore::Append");
}

absl::StatusOr<uint64_t> FakeStore::Cursor(int64_t) {
  return absl::UnimplementedError("FakeStore::Cursor");
}

absl::StatusOr<store::StoredUpdate> FakeStore::ReadUpdate(int64_t, uint64_t, int) {
  return absl::UnimplementedError("FakeStore::ReadUpdate");
}

absl::StatusOr<store::Trajectory> FakeStore::GetTrajectory(int64_t run_id) {
  std::lock_guard lock(mutex_);
  auto it = trajectories_.find(run_id);
  if (it == trajectories_.end()) return absl::NotFoundError(absl::StrCat("no run ", run_id, "."));
  return it->second;
}

absl::Status FakeStore::PutArtifact(int64_t job_id, const store::Artifact& artifact) {
  std::lock_guard lock(mutex_);
  std::vector<store::Artifact>& files = artifacts_[job_id];
  for (store::Artifact& f : files) {
    if (f.name == artifact.name) {
      f = artifact;
      return absl::OkStatus();
    }
  }
  files.push_back(artifact);
  return absl::OkStatus();
}

absl::StatusOr<store::Artifact> FakeStore::GetArtifact(int64_t job_id, const std::string& name) {
  std::lock_guard lock(mutex_);
  for (const store::Artifact& f : artifacts_[job_id]) {
    if (f.name == name) return f;
  }
  return absl::NotFoundError(absl::StrCat("job ", job_id, " has no file ", name, "."));
}

absl::StatusOr<int64_t> FakeStore::ArtifactSize(int64_t job_id, const std::string& name) {
  absl::StatusOr<store::Artifact> artifact = GetArtifact(job_id, name);
  if (!artifact.ok()) return artifact.status();
  return static_cast<int64_t>(artifact->data.size());
}

std::vector<std::string> FakeStore::ArtifactNames(int64_t job_id) {
  std::lock_guard lock(mutex_);
  std::vector<std::string> names;
  for (const store::Artifact& f : artifacts_[job_id]) names.push_back(f.name);
  return names;
}

absl::StatusOr<store::JobAccess> FakeStore::GetJobAccess(int64_t) {
  return absl::UnimplementedError("FakeStore::GetJobAccess");
}
absl::Status FakeStore::DeleteJob(int64_t) {
  return absl::UnimplementedError("FakeStore::DeleteJob");
}
absl::StatusOr<int64_t> FakeStore::CreateClass(const std::string&, absl::Time) {
  return absl::UnimplementedError("FakeStore::CreateClass");
}
absl::StatusOr<store::User> FakeStore::CreateUser(const std::string&, const std::string&,
                                                  store::Role, absl::Time) {
  return absl::UnimplementedError("FakeStore::CreateUser");
}
absl::Status FakeStore::AddToken(const std::string&, const std::string&, const std::string&,
                                 absl::Time) {
  return absl::UnimplementedError("FakeStore::AddToken");
}
absl::StatusOr<int> FakeStore::RevokeTokens(const std::string&, const std::string&, absl::Time) {
  return absl::UnimplementedError("FakeStore::RevokeTokens");
}
absl::StatusOr<std::optional<store::User>> FakeStore::UserByToken(const std::string&) {
  return absl::UnimplementedError("FakeStore::UserByToken");
}
absl::StatusOr<bool> FakeStore::HasUsers() { return false; }
absl::StatusOr<std::vector<store::User>> FakeStore::ListUsers(const std::string&) {
  return absl::UnimplementedError("FakeStore::ListUsers");
}

}  // namespace ablate::artifacts::testing
