// The job manager when the store fails for good: a full database (through the store's size
// cap, which fails writes exactly as a full disk does) and a read-only data directory.
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <variant>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/service/wire.h"
#include "server/jobs/event_writer.h"
#include "server/jobs/job_manager.h"
#include "server/jobs/spec.h"
#include "server/store/store.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/job_specs.h"
#include "tests/support/job_stack.h"
#include "tests/support/read_only_store.h"
#include "tests/support/sqlite_files.h"

namespace ablate::jobs {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

using test_support::IntegrityCheck;
using test_support::TempDir;

// A tiny model trained for long: steps arrive far faster than the cap allows them to be kept.
v1::JobSpec LongTinyJob() { return test_support::ManyStepsSpec(100000, "fills the disk"); }

TEST(JobFaultsTest, FullStoreFailsTheRunningJobRefusesNewOnesAndKeepsReads) {
  TempDir dir("ablate_jobs_faults");
  const std::string path = dir.File("ablate.db");
  int64_t job_id = 0;
  {
    std::unique_ptr<store::Store> store = *store::Store::Open(path, {.max_bytes = 512 << 10});
    bool built = false;
    test_support::JobStack stack(*store, /*workers=*/1, [&](int64_t) {
      built = true;
      return absl::OkStatus();
    });
    JobManager& jobs = *stack.jobs;
    EventWriter& writer = *stack.writer;
    absl::StatusOr<v1::Job> job = jobs.Submit(LongTinyJob(), "ops");
    ASSERT_TRUE(job.ok()) << job.status();
    job_id = job->id();

    // The writer retries a full store for about 2 s, then the job is stopped and recorded.
    absl::StatusOr<v1::Job> now;
    for (int i = 0; i < 600; ++i) {
      now = wire::GetJob(*store, job_id);  // reads work throughout
      ASSERT_TRUE(now.ok()) << now.status();
      if (now->state() == v1::JOB_STATE_FAILED) break;
      std::this_thread::sleep_for(50ms);
    }
    ASSERT_EQ(now->state(), v1::JOB_STATE_FAILED) << now->error();
    EXPECT_THAT(now->error(), HasSubstr("the database is full"));
    EXPECT_EQ(now->runs(0).state(), v1::RUN_STATE_FAILED);
    EXPECT_FALSE(built) << "no deliverables are built into a full store";
    EXPECT_FALSE(writer.StoreFull().ok());

    // Every recorded step is there, contiguous from 0; nothing after the first lost one.
    absl::StatusOr<store::Trajectory> trajectory = store->GetTrajectory(job->runs(0).id());
    ASSERT_TRUE(trajectory.ok()) << trajectory.status();
    ASSERT_GT(trajectory->steps.size(), 100u);
    for (size_t i = 0; i < trajectory->steps.size(); ++i) {
      ASSERT_EQ(trajectory->steps[i], static_cast<int>(i));
    }
    EXPECT_EQ(now->runs(0).steps_done(), static_cast<int>(trajectory->steps.size()));
    EXPECT_EQ(writer.StepsRecorded(), trajectory->steps.size());

    absl::Status refused = jobs.Submit(LongTinyJob(), "ops").status();
    EXPECT_TRUE(absl::IsResourceExhausted(refused)) << refused;
    EXPECT_THAT(refused.message(), HasSubstr("the data directory is full"));
    EXPECT_TRUE(store->ListJobs({}).ok());
    EXPECT_EQ(jobs.ActiveJobs(), 0);
    jobs.Shutdown();
    stack.executor.reset();
  }
  EXPECT_EQ(IntegrityCheck(path), "ok");
}

// A store with room for `capacity` steps: an Append that would take it past them fails as a full
// disk does (the whole transaction, ResourceExhausted); everything else is the real store's.
class RoomForStepsStore final : public test_support::ForwardingStore {
 public:
  RoomForStepsStore(std::unique_ptr<store::Store> inner, int capacity)
      : ForwardingStore(std::move(inner)), capacity_(capacity) {}

  absl::StatusOr<std::vector<store::JobCursor>> Append(
      std::span<const store::Event> events) override {
    const int steps = StepsIn(events);
    if (steps_ + steps > capacity_) {
      return absl::ResourceExhaustedError("database or disk is full");
    }
    absl::StatusOr<std::vector<store::JobCursor>> result = inner().Append(events);
    if (result.ok()) steps_ += steps;
    return result;
  }

 private:
  const int capacity_;
  int steps_ = 0;  // only the writer thread appends
};

// A group commit too big for the room left keeps the steps that fit, not none of its own: the
// run's record stops exactly where the disk did, whatever the batches' sizes.
TEST(JobFaultsTest, ANearlyFullStoreKeepsEveryStepThatFits) {
  constexpr int kRoom = 777;
  RoomForStepsStore store(*store::Store::Open(":memory:"), kRoom);
  test_support::JobStack stack(store, /*workers=*/1);
  JobManager& jobs = *stack.jobs;
  absl::StatusOr<v1::Job> job = jobs.Submit(LongTinyJob(), "ops");
  ASSERT_TRUE(job.ok()) << job.status();
  absl::StatusOr<v1::Job> now;
  for (int i = 0; i < 600; ++i) {
    now = wire::GetJob(store, job->id());
    ASSERT_TRUE(now.ok()) << now.status();
    if (now->state() == v1::JOB_STATE_FAILED) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(now->state(), v1::JOB_STATE_FAILED) << now->error();
  EXPECT_THAT(now->error(), HasSubstr("the database is full"));
  absl::StatusOr<store::Trajectory> trajectory = store.GetTrajectory(job->runs(0).id());
  ASSERT_TRUE(trajectory.ok()) << trajectory.status();
  ASSERT_EQ(trajectory->steps.size(), static_cast<size_t>(kRoom));
  for (int i = 0; i < kRoom; ++i) ASSERT_EQ(trajectory->steps[i], i);
  EXPECT_EQ(now->runs(0).steps_done(), kRoom);
  jobs.Shutdown();
  stack.executor.reset();
}

TEST(JobFaultsTest, AStoreThatTurnsReadOnlyIsTreatedLikeAFullOne) {
  test_support::TurnsReadOnlyStore store(*store::Store::Open(":memory:"), 500);
  test_support::JobStack stack(store, /*workers=*/1);
  JobManager& jobs = *stack.jobs;
  EventWriter& writer = *stack.writer;
  absl::StatusOr<v1::Job> job = jobs.Submit(LongTinyJob(), "ops");
  ASSERT_TRUE(job.ok()) << job.status();
  for (int i = 0; i < 600 && jobs.ActiveJobs() > 0; ++i) std::this_thread::sleep_for(50ms);
  ASSERT_EQ(jobs.ActiveJobs(), 0) << "the writer kept retrying";
  EXPECT_TRUE(absl::IsPermissionDenied(writer.StoreFull())) << writer.StoreFull();
  // Its end could not be recorded either: the job stays unfinished in the store (queued or
  // running, as far as its start was recorded), and resumes at the next start.
  absl::StatusOr<v1::Job> now = wire::GetJob(store, job->id());
  ASSERT_TRUE(now.ok());
  EXPECT_TRUE(now->state() == v1::JOB_STATE_QUEUED || now->state() == v1::JOB_STATE_RUNNING)
      << v1::JobState_Name(now->state());
  EXPECT_EQ(*store.UnfinishedJobs(), std::vector<int64_t>{job->id()});
  absl::StatusOr<store::Trajectory> trajectory = store.GetTrajectory(job->runs(0).id());
  ASSERT_TRUE(trajectory.ok());
  EXPECT_LE(trajectory->steps.size(), 500u);
  EXPECT_EQ(now->runs(0).steps_done(), static_cast<int>(trajectory->steps.size()));
  absl::Status refused = jobs.Submit(LongTinyJob(), "ops").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  EXPECT_THAT(refused.message(), HasSubstr("the data directory cannot be written"));
  jobs.Shutdown();
  stack.executor.reset();
}

TEST(JobFaultsTest, RefusedChangesRefuseSubmitAndCancel) {
  std::unique_ptr<store::Store> store = *store::Store::Open(":memory:");
  test_support::JobStack stack(*store, /*workers=*/1);
  JobManager& jobs = *stack.jobs;
  jobs.RefuseChanges(absl::FailedPreconditionError("the data directory /d is read-only"));
  absl::Status submit = jobs.Submit(LongTinyJob(), "ops").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(submit)) << submit;
  EXPECT_THAT(submit.message(), HasSubstr("/d is read-only"));
  EXPECT_TRUE(store->ListJobs({})->jobs.empty());
}

// A read-only server still answers a cancel of an ended job (it changes nothing), so that the
// permission check before it and the job's state reach the caller; an unfinished job's cancel
// is refused.
TEST(JobFaultsTest, RefusedChangesRefuseTheCancelOfAnUnfinishedJobOnly) {
  TempDir dir("ablate_jobs_refused_cancel");
  const std::string path = dir.File("ablate.db");
  int64_t ended = 0, unfinished = 0;
  {
    std::unique_ptr<store::Store> store = *store::Store::Open(path);
    test_support::JobStack stack(*store, /*workers=*/1);
    absl::StatusOr<v1::Job> job = stack.jobs->Submit(
        *ResolveSpec(test_support::TinySpec(5, {.depth = 2, .width = 16, .eval_every = 5,
                                                .name = {}})),
        "ops");
    ASSERT_TRUE(job.ok()) << job.status();
    ended = job->id();
    for (int i = 0; i < 600 && job->state() != v1::JOB_STATE_SUCCEEDED; ++i) {
      std::this_thread::sleep_for(50ms);
      job = wire::GetJob(*store, ended);
      ASSERT_TRUE(job.ok()) << job.status();
    }
    ASSERT_EQ(job->state(), v1::JOB_STATE_SUCCEEDED) << job->error();
    job = stack.jobs->Submit(LongTinyJob(), "ops");
    ASSERT_TRUE(job.ok()) << job.status();
    unfinished = job->id();
    stack.jobs->Shutdown();  // it stays unfinished in the store
  }
  std::unique_ptr<store::Store> store = *store::Store::Open(path);
  test_support::JobStack stack(*store, /*workers=*/1);
  stack.jobs->RefuseChanges(absl::FailedPreconditionError("the data directory /d is read-only"));
  absl::StatusOr<v1::Job> answered = stack.jobs->Cancel(ended);
  ASSERT_TRUE(answered.ok()) << answered.status();
  EXPECT_EQ(answered->state(), v1::JOB_STATE_SUCCEEDED);
  absl::Status refused = stack.jobs->Cancel(unfinished).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  EXPECT_THAT(refused.message(), HasSubstr("/d is read-only"));
  EXPECT_TRUE(absl::IsNotFound(stack.jobs->Cancel(unfinished + 1).status()));
}

TEST(JobFaultsTest, SubmitDuringTheDrainIsUnavailable) {
  std::unique_ptr<store::Store> store = *store::Store::Open(":memory:");
  test_support::JobStack stack(*store, /*workers=*/1);
  JobManager& jobs = *stack.jobs;
  jobs.Shutdown();
  absl::Status refused = jobs.Submit(LongTinyJob(), "ops").status();
  EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
  EXPECT_THAT(refused.message(), HasSubstr("shutting down"));
  EXPECT_TRUE(store->ListJobs({})->jobs.empty());
}

}  // namespace
}  // namespace ablate::jobs
