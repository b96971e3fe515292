// Sharing the server between users, in process with a real store (in memory), writer, executor
// and job manager: the per-user and per-job limits, and the fair order of real jobs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "server/jobs/spec.h"
#include "server/service/service.h"
#include "tests/support/job_specs.h"
#include "tests/support/service_stack.h"

namespace ablate::service {
namespace {

using namespace std::chrono_literals;

// One run of a small model (4 layers of width 32): a few milliseconds for a few dozen steps;
// 100000 steps keep it running until cancelled. The compute limits below are computed from it.
v1::JobSpec SmallJob(int steps) { return test_support::TinySpec(steps); }

using test_support::JobEnded;

class QuotaTest : public testing::Test {
 protected:
  void Start(int workers, ServiceOptions options) {
    stack_ = std::make_unique<test_support::ServiceStack>(workers, options);
    service_ = stack_->service.get();
  }

  absl::StatusOr<v1::Job> TrySubmit(const v1::JobSpec& spec, const std::string& owner) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    request.set_owner(owner);
    return service_->SubmitJob(auth::Caller(), request);
  }
  v1::Job Submit(const v1::JobSpec& spec, const std::string& owner) {
    absl::StatusOr<v1::Job> job = TrySubmit(spec, owner);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? *job : v1::Job();
  }
  v1::Job Get(int64_t job_id) {
    v1::GetJobRequest request;
    request.set_job_id(job_id);
    return *service_->GetJob(auth::Caller(), request);
  }
  v1::Job Cancel(int64_t job_id) {
    v1::CancelJobRequest request;
    request.set_job_id(job_id);
    return *service_->CancelJob(auth::Caller(), request);
  }
  // Polls until the job is in a state `done` accepts; false after 60 s.
  template <typename Done>
  bool WaitFor(int64_t job_id, Done done) {
    return test_support::WaitForJob(*stack_->store, job_id, done);
  }

  std::unique_ptr<test_support::ServiceStack> stack_;  // by Start
  AblationService* service_ = nullptr;
};

TEST(JobMultiplyAddsTest, CountsRunsTrainingAndValidationAndEveryLayersWeights) {
  // Lab 1: 3 runs × (1000 steps × batch 64 + 21 evaluations × 200 validation examples) ×
  // (256·256 + 10·256·256 + 256·2).
  const v1::JobSpec lab = *jobs::ResolveSpec(v1::JobSpec());
  EXPECT_DOUBLE_EQ(JobMultiplyAdds(lab), 3.0 * (1000 * 64 + 21 * 200) * (65536 + 655360 + 512));
  EXPECT_LT(JobMultiplyAdds(lab), ServiceOptions().max_job_compute / 50);

  v1::JobSpec one_layer = SmallJob(10);  // evaluated every 10 steps: 2 evaluations
  one_layer.mutable_model()->set_depth(1);
  EXPECT_DOUBLE_EQ(JobMultiplyAdds(*jobs::ResolveSpec(one_layer)),
                   (10.0 * 64 + 2 * 200) * 32 * 2);
}

TEST(JobDataBytesTest, CountsEveryRunsTrainingAndValidationExamples) {
  // Lab 1: 3 runs × (1000 + 200 examples) × 256 inputs × 4 bytes.
  const v1::JobSpec lab = *jobs::ResolveSpec(v1::JobSpec());
  EXPECT_DOUBLE_EQ(JobDataBytes(lab), 3.0 * 1200 * 256 * 4);
  EXPECT_LT(JobDataBytes(lab), ServiceOptions().max_job_memory_mib * (1 << 20) / 100);
}

TEST_F(QuotaTest, ValidationCountsTowardTheComputeLimit) {
  // Lab 1's training is 1.4e11 multiply-adds, under the default limit of 1e13; validating on
  // 100,000 examples after every step is 2.2e14 more, and is refused.
  Start(1, ServiceOptions{.max_active_jobs_per_user = 0});
  v1::JobSpec heavy;
  heavy.mutable_data()->set_val_size(100000);
  heavy.mutable_training()->set_eval_every(1);
  const absl::StatusOr<v1::Job> refused = TrySubmit(heavy, "alice");
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()),
              testing::StartsWith("this job needs 2.17e14 multiply-adds"));
}

TEST_F(QuotaTest, AJobAboveTheMemoryLimitIsRefusedNamingItsNeedAndTheLimit) {
  // Lab 1's data: 3 × 1200 × 256 × 4 = 3,686,400 bytes, above 3 MiB and under 4.
  Start(1, ServiceOptions{.max_active_jobs_per_user = 0, .max_job_memory_mib = 3});
  const absl::StatusOr<v1::Job> refused = TrySubmit(v1::JobSpec(), "alice");
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_EQ(refused.status().message(),
            "this job's data needs 3.69e6 bytes (runs × (data.train_size + data.val_size) × "
            "model.input_dim × 4), the limit per job is 3 MiB (--max-job-memory); lower "
            "train_size, val_size or input_dim, or split the runs into several jobs.");
  stack_.reset();
  Start(1, ServiceOptions{.max_active_jobs_per_user = 0, .max_job_memory_mib = 4});
  v1::JobSpec short_lab;
  short_lab.mutable_training()->set_steps(5);
  EXPECT_TRUE(TrySubmit(short_lab, "alice").ok());
}

TEST_F(QuotaTest, AJobAboveTheComputeLimitIsRefusedNamingItsNeedAndTheLimit) {
  // SmallJob(10): 1 run × (10 steps × batch 64 + 2 evaluations × 200) ×
  // (32·32 + 2·32·32 + 32·2) = 3,261,440.
  Start(1, ServiceOptions{.max_active_jobs_per_user = 0, .max_job_compute = 3'261'440});
  EXPECT_TRUE(TrySubmit(SmallJob(10), "alice").ok()) << "a job exactly at the limit is accepted";

  const absl::StatusOr<v1::Job> refused = TrySubmit(SmallJob(11), "alice");
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_EQ(refused.status().message(),
            "this job needs 3.46e6 multiply-adds (runs × (training.steps × training.batch + "
            "evaluations × data.val_size) × the sum over layers of n_in × n_out, with "
            "evaluations = training.steps / training.eval_every + 1), the limit per job is "
            "3.26e6 (--max-job-compute); lower the steps, batch, val_size, width or depth, "
            "raise eval_every, or split the runs into several jobs.");
}

// CheckJob gives SubmitJob's answer without making the job: the resolved spec, or the same
// refusal; nothing is stored, whatever the answer.
TEST_F(QuotaTest, CheckJobAnswersAsSubmitWouldWithoutStoringAnything) {
  Start(1, ServiceOptions{.max_active_jobs_per_user = 0, .max_job_compute = 3'261'440});
  v1::SubmitJobRequest request;
  *request.mutable_spec() = SmallJob(10);
  request.set_owner("alice");
  const absl::StatusOr<v1::Job> checked = service_->CheckJob(auth::Caller(), request);
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_EQ(checked->id(), 0);
  EXPECT_EQ(checked->owner(), "alice");
  EXPECT_EQ(checked->spec().training().steps(), 10);
  EXPECT_EQ(checked->spec().training().eval_every(), SmallJob(10).training().eval_every());
  EXPECT_FALSE(checked->spec().name().empty()) << "named as a submit names it";

  *request.mutable_spec() = SmallJob(11);
  const absl::StatusOr<v1::Job> refused = service_->CheckJob(auth::Caller(), request);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.status().message(), TrySubmit(SmallJob(11), "alice").status().message());

  request.mutable_spec()->mutable_model()->set_depth(65);
  EXPECT_EQ(service_->CheckJob(auth::Caller(), request).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::ListJobsRequest list;
  EXPECT_EQ(service_->ListJobs(auth::Caller(), list)->jobs_size(), 0);
}

// A queued job says how many runs start before its own: the others' in turn by owner, not by
// the order of submission; a job that is training says nothing.
TEST_F(QuotaTest, AQueuedJobSaysHowManyRunsStartBeforeIt) {
  Start(1, ServiceOptions{.max_active_jobs_per_user = 0});
  const v1::Job first = Submit(SmallJob(100000), "alice");
  ASSERT_TRUE(WaitFor(first.id(), [](v1::JobState s) { return s == v1::JOB_STATE_RUNNING; }));
  const v1::Job second = Submit(SmallJob(100000), "alice");
  const v1::Job bobs = Submit(SmallJob(100000), "bob");
  const v1::Job carols = Submit(SmallJob(100000), "carol");
  // alice was served last: bob's run, then carol's, then alice's second.
  EXPECT_FALSE(Get(first.id()).has_runs_ahead());
  EXPECT_EQ(Get(bobs.id()).runs_ahead(), 0);
  EXPECT_EQ(Get(carols.id()).runs_ahead(), 1);
  EXPECT_EQ(Get(second.id()).runs_ahead(), 2);
  // Bob's job leaves the queue: the others move up.
  EXPECT_EQ(Cancel(bobs.id()).state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(Get(carols.id()).runs_ahead(), 0);
  EXPECT_EQ(Get(second.id()).runs_ahead(), 1);
  for (const v1::Job& job : {first, second, carols}) Cancel(job.id());
}

TEST_F(QuotaTest, AUsersJobBeyondTheActiveLimitIsRefusedUntilOneEnds) {
  Start(1, ServiceOptions{.max_active_jobs_per_user = 2});
  const v1::Job running = Submit(SmallJob(100000), "alice");
  const v1::Job queued = Submit(SmallJob(100000), "alice");

  const absl::StatusOr<v1::Job> refused = TrySubmit(SmallJob(10), "alice");
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_EQ(refused.status().message(),
            "alice already has 2 jobs queued or running, the limit per user is 2 "
            "(--max-active-jobs-per-user); wait for one to finish or cancel one.");
  EXPECT_TRUE(TrySubmit(SmallJob(10), "bob").ok()) << "another user is not held back";

  // Cancelling the queued job frees a place at once, though the only worker is still busy.
  EXPECT_EQ(Cancel(queued.id()).state(), v1::JOB_STATE_CANCELLED);
  EXPECT_TRUE(TrySubmit(SmallJob(10), "alice").ok());
  EXPECT_FALSE(JobEnded(Get(running.id()).state()));
}

TEST_F(QuotaTest, ConcurrentSubmitsAtTheLimitDoNotAllPass) {
  constexpr int kLimit = 3;
  constexpr int kSubmits = 8;
  Start(1, ServiceOptions{.max_active_jobs_per_user = kLimit});
  std::atomic<int> ready{0};
  std::atomic<int> accepted{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kSubmits; ++i) {
    threads.emplace_back([&] {
      ++ready;
      while (ready < kSubmits) std::this_thread::yield();
      absl::StatusOr<v1::Job> job = TrySubmit(SmallJob(100000), "alice");
      if (job.ok()) {
        ++accepted;
      } else if (job.status().code() == absl::StatusCode::kResourceExhausted) {
        ++refused;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(accepted, kLimit);
  EXPECT_EQ(refused, kSubmits - kLimit);
  EXPECT_EQ(*stack_->store->CountActiveJobs("alice"), kLimit);
}

TEST_F(QuotaTest, ASecondUsersOneJobStartsBeforeTheFirstUsersQueuedTen) {
  Start(1, ServiceOptions{.max_active_jobs_per_user = 0});
  // alice's first job holds the only worker while the others queue behind it.
  const v1::Job blocker = Submit(SmallJob(100000), "alice");
  ASSERT_TRUE(WaitFor(blocker.id(), [](v1::JobState s) { return s == v1::JOB_STATE_RUNNING; }));
  std::vector<v1::Job> alice;
  for (int i = 0; i < 9; ++i) alice.push_back(Submit(SmallJob(30), "alice"));
  const v1::Job bob = Submit(SmallJob(30), "bob");
  Cancel(blocker.id());

  for (const v1::Job& job : alice) {
    ASSERT_TRUE(WaitFor(job.id(), JobEnded)) << "job " << job.id();
  }
  ASSERT_TRUE(WaitFor(bob.id(), JobEnded));
  const v1::Job bob_done = Get(bob.id());
  EXPECT_EQ(bob_done.state(), v1::JOB_STATE_SUCCEEDED);
  // First come, first served would start bob's job after all nine of alice's.
  for (const v1::Job& job : alice) {
    const v1::Job done = Get(job.id());
    EXPECT_EQ(done.state(), v1::JOB_STATE_SUCCEEDED);
    EXPECT_LE(bob_done.started_at().seconds() * 1000 + bob_done.started_at().nanos() / 1'000'000,
              done.started_at().seconds() * 1000 + done.started_at().nanos() / 1'000'000)
        << "bob's job started after alice's job " << job.id();
  }
}

}  // namespace
}  // namespace ablate::service
