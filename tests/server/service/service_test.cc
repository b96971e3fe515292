// The service layer in process: a real store (in memory), writer, executor and job manager.
#include "server/service/service.h"

#include <gtest/gtest.h>

#include <bit>
#include <chrono>
#include <future>
#include <map>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
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
      watch->Next([&](absl::StatusOr<UpdatePtr> u) {
        if (u.ok()) {
          next.set_value((*u)->update());
        } else {
          next.set_value(u.status());
        }
      });
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

// A stack whose finish hook stores one file per job, as the server's builds the deliverables;
// the hook also asks for the file it has just stored, before the job's end is recorded.
class ServiceArtifactsTest : public testing::Test {
 protected:
  static constexpr char kLosses[] = R"({"schema":"ablate.losses/1"})";

  absl::Status PutFiles(int64_t job_id) {
    const store::Artifact file{"losses.json", "application/json", kLosses, ""};
    if (absl::Status s = stack_.store->PutArtifact(job_id, file); !s.ok()) return s;
    v1::GetArtifactRequest request;
    request.set_job_id(job_id);
    request.set_name("losses.json");
    hook_saw_ = stack_.service->GetArtifact(kNoAuth, request).status();
    return absl::OkStatus();
  }

  absl::Status hook_saw_ = absl::UnknownError("the finish hook did not run");
  test_support::ServiceStack stack_{/*workers=*/2, ServiceOptions{}, ":memory:",
                                    [this](int64_t job_id) { return PutFiles(job_id); }};
};

TEST_F(ServiceArtifactsTest, ArtifactsWaitForTheJobToEnd) {
  AblationService& service = *stack_.service;
  v1::JobSpec spec = ShortLab(100000);
  spec.clear_runs();
  spec.add_runs()->set_init("kaiming");
  v1::SubmitJobRequest submit;
  *submit.mutable_spec() = spec;
  const absl::StatusOr<v1::Job> job = service.SubmitJob(kNoAuth, submit);
  ASSERT_TRUE(job.ok()) << job.status();
  v1::GetArtifactRequest request;
  request.set_job_id(job->id());
  request.set_name("losses.json");
  // While it runs: refused, with a sentence.
  auto early = service.GetArtifact(kNoAuth, request);
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(
      early.status().message(),
      absl::StrCat("job ", job->id(), " has not finished; its files are built when it ends."));

  v1::CancelJobRequest cancel;
  cancel.set_job_id(job->id());
  ASSERT_TRUE(service.CancelJob(kNoAuth, cancel).ok());
  ASSERT_TRUE(test_support::WaitUntilEnded(*stack_.store, job->id()));
  // Stored by the hook, but not served until the job's end was recorded...
  EXPECT_EQ(hook_saw_.code(), absl::StatusCode::kFailedPrecondition) << hook_saw_;
  // ...and served once it was.
  auto file = service.GetArtifact(kNoAuth, request);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->artifact().data, kLosses);
  EXPECT_EQ((*file)->artifact().content_type, "application/json");
}

}  // namespace
}  // namespace ablate::service
