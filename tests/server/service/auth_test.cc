// The service layer's access rules, in process: a real store (in memory) with two classes,
// their users and tokens, and the job manager training tiny jobs.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "server/auth/token.h"
#include "server/service/service.h"
#include "tests/support/job_specs.h"
#include "tests/support/service_stack.h"

namespace ablate::service {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// A few steps of a tiny model: done in milliseconds.
v1::JobSpec Tiny(int steps = 5) {
  return test_support::TinySpec(steps, {.depth = 3, .width = 16, .eval_every = 5, .name = "tiny"});
}

class AuthTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_->CreateClass("cs101", absl::Now()).ok());
    ASSERT_TRUE(store_->CreateClass("cs102", absl::Now()).ok());
    carol_token_ = AddUser("cs101", "carol", store::Role::kInstructor);
    ada_token_ = AddUser("cs101", "ada", store::Role::kStudent);
    bob_token_ = AddUser("cs101", "bob", store::Role::kStudent);
    dan_token_ = AddUser("cs102", "dan", store::Role::kInstructor);
    eve_token_ = AddUser("cs102", "eve", store::Role::kStudent);
    carol_ = Caller(carol_token_);
    ada_ = Caller(ada_token_);
    bob_ = Caller(bob_token_);
    dan_ = Caller(dan_token_);
    eve_ = Caller(eve_token_);
  }
  std::string AddUser(const std::string& class_name, const std::string& name, store::Role role) {
    EXPECT_TRUE(store_->CreateUser(class_name, name, role, absl::Now()).ok());
    const std::string token = *auth::NewToken();
    EXPECT_TRUE(
        store_->AddToken(name, auth::TokenHash(token), auth::VisiblePrefix(token), absl::Now())
            .ok());
    return token;
  }

  auth::Caller Caller(const std::string& token) {
    absl::StatusOr<auth::Caller> caller = service_->Authenticate(token);
    EXPECT_TRUE(caller.ok()) << caller.status();
    EXPECT_TRUE(caller.ok() && caller->has_value());
    return caller.ok() ? *caller : auth::Caller();
  }

  v1::Job Submit(const auth::Caller& caller, const v1::JobSpec& spec = Tiny()) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    absl::StatusOr<v1::Job> job = service_->SubmitJob(caller, request);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? *job : v1::Job();
  }

  // A job that trains until cancelled.
  v1::Job SubmitLong(const auth::Caller& caller) { return Submit(caller, Tiny(100000)); }

  absl::StatusOr<v1::Job> Get(const auth::Caller& caller, int64_t id) {
    v1::GetJobRequest request;
    request.set_job_id(id);
    return service_->GetJob(caller, request);
  }

  absl::StatusOr<v1::Job> Cancel(const auth::Caller& caller, int64_t id) {
    v1::CancelJobRequest request;
    request.set_job_id(id);
    return service_->CancelJob(caller, request);
  }

  absl::Status Delete(const auth::Caller& caller, int64_t id) {
    v1::DeleteJobRequest request;
    request.set_job_id(id);
    return service_->DeleteJob(caller, request).status();
  }

  std::vector<int64_t> ListIds(const auth::Caller& caller, const std::string& owner = "") {
    v1::ListJobsRequest request;
    request.set_owner(owner);
    absl::StatusOr<v1::ListJobsResponse> list = service_->ListJobs(caller, request);
    EXPECT_TRUE(list.ok()) << list.status();
    std::vector<int64_t> ids;
    if (list.ok()) {
      for (const v1::Job& j : list->jobs()) ids.push_back(j.id());
    }
    return ids;
  }

  test_support::ServiceStack stack_{/*workers=*/2};
  store::Store* const store_ = stack_.store.get();
  AblationService* const service_ = stack_.service.get();
  std::string carol_token_, ada_token_, bob_token_, dan_token_, eve_token_;
  auth::Caller carol_, ada_, bob_, dan_, eve_;
};

TEST_F(AuthTest, MissingOrUnknownTokenIsUnauthenticated) {
  absl::StatusOr<auth::Caller> none = service_->Authenticate("");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(none.status().message(), HasSubstr("token"));
  absl::StatusOr<auth::Caller> wrong = service_->Authenticate("abl_not-a-real-token");
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kUnauthenticated);
  // A token differing in one character is another token.
  std::string near = ada_token_;
  near.back() = near.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(service_->Authenticate(near).status().code(), absl::StatusCode::kUnauthenticated);

  ASSERT_TRUE(ada_.has_value());
  EXPECT_EQ(ada_->name, "ada");
  EXPECT_EQ(ada_->class_name, "cs101");
  EXPECT_EQ(ada_->role, auth::Role::kStudent);
  const v1::WhoAmIResponse who = AblationService::WhoAmI(carol_);
  EXPECT_TRUE(who.auth_enabled());
  EXPECT_EQ(who.name(), "carol");
  EXPECT_EQ(who.class_name(), "cs101");
  EXPECT_EQ(who.role(), "instructor");
}

TEST_F(AuthTest, RevokedTokenStopsWorkingAtOnce) {
  const v1::Job job = Submit(ada_);
  ASSERT_TRUE(Get(Caller(ada_token_), job.id()).ok());
  ASSERT_EQ(*store_->RevokeTokens("ada", "", absl::Now()), 1);
  // The very next call, with nothing restarted or waited for.
  absl::StatusOr<auth::Caller> after = service_->Authenticate(ada_token_);
  EXPECT_EQ(after.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(after.status().message(), HasSubstr("revoked"));
  // Other users' tokens still work.
  EXPECT_TRUE(service_->Authenticate(bob_token_).ok());
}

TEST_F(AuthTest, JobsAreOwnedByTheCallerAndOwnerCannotBeForged) {
  const v1::Job job = Submit(ada_);
  EXPECT_EQ(job.owner(), "ada");
  EXPECT_EQ(store_->GetJobAccess(job.id())->class_id, ada_->class_id);

  v1::SubmitJobRequest request;
  *request.mutable_spec() = Tiny();
  request.set_owner("ada");  // one's own name is fine
  EXPECT_TRUE(service_->SubmitJob(ada_, request).ok());
  request.set_owner("bob");
  absl::StatusOr<v1::Job> forged = service_->SubmitJob(ada_, request);
  EXPECT_EQ(forged.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(forged.status().message(), HasSubstr("owner"));
}

// The quotas count the token's user, whatever owner the request names.
TEST_F(AuthTest, QuotasCountTheAuthenticatedUser) {
  AblationService limited(*stack_.store, *stack_.training.jobs, stack_.training.hub,
                          stack_.pool, ServiceOptions{.max_active_jobs_per_user = 1});
  v1::SubmitJobRequest request;
  *request.mutable_spec() = Tiny(100000);
  ASSERT_TRUE(limited.SubmitJob(ada_, request).ok());
  absl::StatusOr<v1::Job> second = limited.SubmitJob(ada_, request);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(second.status().message(), HasSubstr("ada already has 1 job"));
  EXPECT_TRUE(limited.SubmitJob(bob_, request).ok());  // another student is not held back

  *request.mutable_spec() = Tiny();
  request.mutable_spec()->mutable_training()->set_steps(100000);
  request.mutable_spec()->mutable_model()->set_width(1024);
  AblationService small_budget(*stack_.store, *stack_.training.jobs, stack_.training.hub,
                               stack_.pool, ServiceOptions{.max_job_compute = 1e9});
  absl::StatusOr<v1::Job> too_big = small_budget.SubmitJob(eve_, request);
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(too_big.status().message(), HasSubstr("--max-job-compute"));
}

TEST_F(AuthTest, StudentsCancelOnlyTheirOwnJobsAndTheInstructorAny) {
  const v1::Job adas = SubmitLong(ada_);
  const v1::Job bobs = SubmitLong(bob_);

  absl::StatusOr<v1::Job> refused = Cancel(bob_, adas.id());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(refused.status().message(), HasSubstr("belongs to ada"));
  EXPECT_NE(Get(ada_, adas.id())->state(), v1::JOB_STATE_CANCELLED);  // untouched

  absl::StatusOr<v1::Job> own = Cancel(bob_, bobs.id());
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(own->state(), v1::JOB_STATE_CANCELLED);

  absl::StatusOr<v1::Job> by_instructor = Cancel(carol_, adas.id());
  ASSERT_TRUE(by_instructor.ok()) << by_instructor.status();
  EXPECT_EQ(by_instructor->state(), v1::JOB_STATE_CANCELLED);
}

TEST_F(AuthTest, StudentsDeleteOnlyTheirOwnEndedJobs) {
  const v1::Job adas = Submit(ada_);
  const v1::Job running = SubmitLong(ada_);
  ASSERT_TRUE(test_support::WaitUntilEnded(*store_, adas.id()));

  absl::Status refused = Delete(bob_, adas.id());
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(refused.message(), HasSubstr("belongs to ada"));
  absl::Status not_ended = Delete(ada_, running.id());
  EXPECT_EQ(not_ended.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(not_ended.message(), HasSubstr("cancel it first"));

  ASSERT_TRUE(Delete(ada_, adas.id()).ok());
  EXPECT_EQ(Get(ada_, adas.id()).status().code(), absl::StatusCode::kNotFound);
  v1::WatchJobRequest watch;
  watch.set_job_id(adas.id());
  EXPECT_EQ(service_->WatchJob(ada_, watch).status().code(), absl::StatusCode::kNotFound);

  // The instructor may delete a student's job once it has ended.
  ASSERT_TRUE(Cancel(carol_, running.id()).ok());
  EXPECT_TRUE(Delete(carol_, running.id()).ok());
}

TEST_F(AuthTest, EveryJobOfTheClassIsReadableButNoneOfAnotherClass) {
  const v1::Job adas = Submit(ada_);
  const v1::Job eves = SubmitLong(eve_);
  ASSERT_TRUE(test_support::WaitUntilEnded(*store_, adas.id()));

  // Within the class: a student reads a classmate's job.
  EXPECT_TRUE(Get(bob_, adas.id()).ok());
  EXPECT_THAT(ListIds(bob_), ::testing::ElementsAre(adas.id()));
  EXPECT_THAT(ListIds(carol_, "ada"), ::testing::ElementsAre(adas.id()));
  EXPECT_TRUE(ListIds(carol_, "eve").empty());  // filtering by owner stays within the class

  // Across classes: every read is NotFound, in the words used for an id that does not exist,
  // for students and instructors alike; lists leave the other class out.
  for (const auth::Caller* caller : {&ada_, &carol_}) {
    absl::StatusOr<v1::Job> get = Get(*caller, eves.id());
    EXPECT_EQ(get.status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(get.status().message(), absl::StrCat("job ", eves.id(), " not found"));
    EXPECT_EQ(Get(*caller, 99999).status().message(), "job 99999 not found");
    v1::WatchJobRequest watch;
    watch.set_job_id(eves.id());
    EXPECT_EQ(service_->WatchJob(*caller, watch).status().code(), absl::StatusCode::kNotFound);
    v1::GetTrajectoryRequest trajectory;
    trajectory.set_run_id(eves.runs(0).id());
    EXPECT_EQ(service_->GetTrajectory(*caller, trajectory).status().code(),
              absl::StatusCode::kNotFound);
    v1::GetArtifactRequest artifact;
    artifact.set_job_id(eves.id());
    artifact.set_name("losses.json");
    // NotFound, not "has not finished": the job's state is not revealed either.
    EXPECT_EQ(service_->GetArtifact(*caller, artifact).status().code(),
              absl::StatusCode::kNotFound);
    EXPECT_EQ(Cancel(*caller, eves.id()).status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(Delete(*caller, eves.id()).code(), absl::StatusCode::kNotFound);
  }
  EXPECT_THAT(ListIds(ada_), ::testing::ElementsAre(adas.id()));
  EXPECT_THAT(ListIds(dan_), ::testing::ElementsAre(eves.id()));
  EXPECT_TRUE(Get(dan_, eves.id()).ok());
  EXPECT_EQ(Get(dan_, adas.id()).status().code(), absl::StatusCode::kNotFound);
  // Trajectories within the class work.
  v1::GetTrajectoryRequest own;
  own.set_run_id(adas.runs(0).id());
  EXPECT_TRUE(service_->GetTrajectory(bob_, own).ok());
}

TEST_F(AuthTest, JobsFromBeforeAuthenticationBelongToNoClass) {
  v1::SubmitJobRequest request;
  *request.mutable_spec() = Tiny();
  request.set_owner("solo");
  absl::StatusOr<v1::Job> old = service_->SubmitJob(auth::Caller(), request);
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(Get(carol_, old->id()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(ListIds(carol_).empty());
}

TEST(AuthOffTest, ServerWithoutUsersNeedsNoToken) {
  std::unique_ptr<store::Store> store = *store::Store::Open(":memory:");
  auth::Authenticator authenticator(*store);
  EXPECT_FALSE(*authenticator.Enabled());
  absl::StatusOr<auth::Caller> caller = authenticator.Authenticate("");
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_FALSE(caller->has_value());
  EXPECT_FALSE(authenticator.Authenticate("abl_whatever")->has_value());
  EXPECT_FALSE(AblationService::WhoAmI(*caller).auth_enabled());
  // The first user switches it on, without a restart.
  ASSERT_TRUE(store->CreateClass("c", absl::Now()).ok());
  ASSERT_TRUE(store->CreateUser("c", "u", store::Role::kStudent, absl::Now()).ok());
  EXPECT_EQ(authenticator.Authenticate("").status().code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace ablate::service
