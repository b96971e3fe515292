// The service layer in process: a real store (in memory), writer, executor and job manager.
#include "server/service/service.h"

#include <gtest/gtest.h>

#include <bit>
#include <chrono>
#include <future>
#include <map>
#include <memory>

#include "absl/status/status.h"
#include "tests/support/job_specs.h"
#include "tests/support/service_stack.h"

namespace ablate::service {
namespace {

using namespace std::chrono_literals;

// The caller on a server without users.
const auth::Caller kNoAuth;

using test_support::CollectSteps;
using test_support::ShortLab;

class ServiceTest : public testing::Test {
 protected:
  v1::Job Submit(const v1::JobSpec& spec) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    request.set_owner("tester");
    absl::StatusOr<v1::Job> job = service_->SubmitJob(kNoAuth, request);
    EXPECT_TRUE(job.ok()) << job.status();
    return *job;
  }

  // Pulls updates until the one carrying job_finished (or `max_updates`).
  std::vector<v1::JobUpdate> Watch(int64_t job_id, uint64_t cursor, int max_updates = 100000) {
    v1::WatchJobRequest request;
    request.set_job_id(job_id);
    request.set_cursor(cursor);
    std::unique_ptr<JobWatch> watch = *service_->WatchJob(kNoAuth, request);
    std::vector<v1::JobUpdate> updates;
    while (static_cast<int>(updates.size()) < max_updates) {
      std::promise<absl::StatusOr<v1::JobUpdate>> next;
      watch->Next([&](absl::StatusOr<v1::JobUpdate> u) { next.set_value(std::move(u)); });
      auto future = next.get_future();
      if (future.wait_for(60s) != std::future_status::ready) {
        ADD_FAILURE() << "no update within 60 s";
        break;
      }
      absl::StatusOr<v1::JobUpdate> update = future.get();
      if (!update.ok()) {
        ADD_FAILURE() << update.status();
        break;
      }
      updates.push_back(*update);
      if (update->has_job_finished()) break;
    }
    return updates;
  }

  test_support::ServiceStack stack_{/*workers=*/2};
  AblationService* const service_ = stack_.service.get();
};

TEST_F(ServiceTest, SubmittedJobRunsToTheEndAndEveryStepIsWatched) {
  v1::JobSpec spec = ShortLab(60);
  spec.clear_model();  // lab 1's model, where uniform diverges
  const v1::Job job = Submit(spec);
  EXPECT_EQ(job.state(), v1::JOB_STATE_QUEUED);
  ASSERT_EQ(job.runs_size(), 3);

  const std::vector<v1::JobUpdate> updates = Watch(job.id(), 0);
  ASSERT_FALSE(updates.empty());
  const v1::JobUpdate& last = updates.back();
  ASSERT_TRUE(last.has_job_finished());
  EXPECT_EQ(last.job_finished().job().state(), v1::JOB_STATE_SUCCEEDED);

  const auto losses = CollectSteps(updates);
  const v1::Job done = *service_->GetJob(kNoAuth, [&] {
    v1::GetJobRequest r;
    r.set_job_id(job.id());
    return r;
  }());
  for (const v1::Run& run : done.runs()) {
    EXPECT_EQ(losses.at(run.id()).size(), static_cast<size_t>(run.steps_done()));
    EXPECT_NE(run.state(), v1::RUN_STATE_RUNNING);
  }
  // uniform diverges within the 60 steps; kaiming completes them.
  EXPECT_EQ(done.runs(0).state(), v1::RUN_STATE_DIVERGED);
  EXPECT_TRUE(done.runs(0).has_first_nonfinite_step());
  EXPECT_EQ(done.runs(2).state(), v1::RUN_STATE_COMPLETED);
  EXPECT_EQ(done.runs(2).steps_done(), 60);
}

TEST_F(ServiceTest, ResumingFromAnyCursorMissesNothingAndRepeatsNothing) {
  const v1::Job job = Submit(ShortLab(40));
  const std::vector<v1::JobUpdate> all = Watch(job.id(), 0);
  ASSERT_TRUE(all.back().has_job_finished());
  const auto expected = CollectSteps(all);
  for (size_t cut = 0; cut < all.size(); ++cut) {
    std::vector<v1::JobUpdate> resumed(all.begin(), all.begin() + cut);
    const uint64_t cursor = cut == 0 ? 0 : all[cut - 1].cursor();
    for (v1::JobUpdate& u : Watch(job.id(), cursor)) resumed.push_back(std::move(u));
    EXPECT_EQ(CollectSteps(resumed), expected) << "cut after update " << cut;
  }
}

TEST_F(ServiceTest, TrajectoryRoundTripsTheWatchedLossesBitForBit) {
  const v1::Job job = Submit(ShortLab(30));
  const auto watched = CollectSteps(Watch(job.id(), 0));
  for (const auto& [run_id, losses] : watched) {
    v1::GetTrajectoryRequest request;
    request.set_run_id(run_id);
    absl::StatusOr<v1::GetTrajectoryResponse> t = service_->GetTrajectory(kNoAuth, request);
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_EQ(t->losses_size(), static_cast<int>(losses.size()));
    for (int i = 0; i < t->losses_size(); ++i) {
      EXPECT_EQ(std::bit_cast<uint32_t>(t->losses(i)), std::bit_cast<uint32_t>(losses[i]));
    }
  }
}

TEST_F(ServiceTest, CancelStopsTheJob) {
  v1::JobSpec spec = ShortLab(100000);
  spec.clear_runs();
  spec.add_runs()->set_init("kaiming");
  const v1::Job job = Submit(spec);
  v1::CancelJobRequest cancel;
  cancel.set_job_id(job.id());
  absl::StatusOr<v1::Job> cancelled = service_->CancelJob(kNoAuth, cancel);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(cancelled->runs(0).state(), v1::RUN_STATE_CANCELLED);
  EXPECT_LT(cancelled->runs(0).steps_done(), 100000);
  const std::vector<v1::JobUpdate> updates = Watch(job.id(), 0);
  EXPECT_EQ(updates.back().job_finished().job().state(), v1::JOB_STATE_CANCELLED);
}

TEST_F(ServiceTest, UnknownIdsAreNotFoundAndBadSpecsInvalid) {
  v1::GetJobRequest get;
  get.set_job_id(999);
  EXPECT_EQ(service_->GetJob(kNoAuth, get).status().code(), absl::StatusCode::kNotFound);
  v1::WatchJobRequest watch;
  watch.set_job_id(999);
  EXPECT_EQ(service_->WatchJob(kNoAuth, watch).status().code(), absl::StatusCode::kNotFound);
  v1::GetTrajectoryRequest trajectory;
  trajectory.set_run_id(999);
  EXPECT_EQ(service_->GetTrajectory(kNoAuth, trajectory).status().code(),
            absl::StatusCode::kNotFound);
  v1::CancelJobRequest cancel;
  cancel.set_job_id(999);
  EXPECT_EQ(service_->CancelJob(kNoAuth, cancel).status().code(), absl::StatusCode::kNotFound);
  v1::SubmitJobRequest submit;
  submit.mutable_spec()->mutable_model()->set_depth(0);
  EXPECT_EQ(service_->SubmitJob(kNoAuth, submit).status().code(),
            absl::StatusCode::kInvalidArgument);
  trajectory.set_max_points(3);
  EXPECT_EQ(service_->GetTrajectory(kNoAuth, trajectory).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ServiceTest, ArtifactsWaitForTheJobToEnd) {
  v1::JobSpec spec = ShortLab(100000);
  spec.clear_runs();
  spec.add_runs()->set_init("kaiming");
  const v1::Job job = Submit(spec);
  v1::GetArtifactRequest request;
  request.set_job_id(job.id());
  request.set_name("losses.json");
  EXPECT_EQ(service_->GetArtifact(kNoAuth, request).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace ablate::service
