#include "client/watch_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tests/client/fake_server.h"

namespace ablate::client {
namespace {

using ::testing::HasSubstr;
using testing::LabJob;
using testing::TrainingHistory;

v1::JobUpdate Steps(uint64_t cursor, int64_t run_id, int first_step, int count) {
  v1::JobUpdate update;
  update.set_cursor(cursor);
  v1::StepLosses* steps = update.add_steps();
  steps->set_run_id(run_id);
  steps->set_first_step(first_step);
  for (int i = 0; i < count; ++i) {
    steps->add_losses(1.0f / (first_step + i + 1));
    steps->add_seconds(0.002f);
  }
  return update;
}

TEST(WatchState, StartsFromTheJobWithNothingSeen) {
  WatchState state(LabJob(17, v1::JOB_STATE_RUNNING, 1000));
  EXPECT_EQ(state.job_id(), 17);
  EXPECT_EQ(state.cursor(), 0u);
  EXPECT_FALSE(state.finished());
  ASSERT_EQ(state.runs().size(), 3u);
  EXPECT_EQ(state.runs()[0].run_id, 1701);
  EXPECT_EQ(state.runs()[0].init, "uniform");
  EXPECT_EQ(state.runs()[2].init, "kaiming");
  EXPECT_EQ(state.runs()[1].total_steps, 1000);
  EXPECT_EQ(state.runs()[1].steps_seen, 0);
}

TEST(WatchState, AppliesAWholeHistory) {
  const v1::Job job = LabJob(17, v1::JOB_STATE_QUEUED, 10);
  WatchState state(job);
  for (const v1::JobUpdate& update : TrainingHistory(job, 10, 3, v1::JOB_STATE_SUCCEEDED)) {
    ASSERT_TRUE(state.Apply(update).ok());
  }
  ASSERT_TRUE(state.finished());
  EXPECT_EQ(state.final_job().state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(state.job_state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(state.cursor(), 6u);  // started, 4 step updates (3+3+3+1), finished
  const RunProgress& uniform = state.runs()[0];
  EXPECT_EQ(uniform.steps_seen, 10);
  EXPECT_EQ(uniform.state, v1::RUN_STATE_DIVERGED);
  ASSERT_TRUE(uniform.last_loss.has_value());
  EXPECT_TRUE(std::isnan(*uniform.last_loss));
  ASSERT_TRUE(uniform.summary.has_value());
  EXPECT_EQ(uniform.summary->outcome(), "diverged at step 9");
  EXPECT_EQ(state.runs()[2].state, v1::RUN_STATE_COMPLETED);
}

TEST(WatchState, RunsStartedMarksTheJobRunning) {
  const v1::Job job = LabJob(17, v1::JOB_STATE_QUEUED, 10);
  WatchState state(job);
  EXPECT_EQ(state.runs()[0].state, v1::RUN_STATE_QUEUED);
  ASSERT_TRUE(state.Apply(TrainingHistory(job, 10, 5, v1::JOB_STATE_SUCCEEDED)[0]).ok());
  EXPECT_EQ(state.job_state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(state.runs()[0].state, v1::RUN_STATE_RUNNING);
  EXPECT_EQ(state.cursor(), 1u);
}

TEST(WatchState, ResumingAfterTheCursorContinuesWithoutGapOrRepeat) {
  // The stream breaks after cursor 3; the resumed stream sends what follows cursor 3.
  const v1::Job job = LabJob(17, v1::JOB_STATE_QUEUED, 10);
  const std::vector<v1::JobUpdate> history = TrainingHistory(job, 10, 2, v1::JOB_STATE_SUCCEEDED);
  WatchState state(job);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(state.Apply(history[i]).ok());
  const uint64_t resume_from = state.cursor();
  EXPECT_EQ(resume_from, 3u);
  for (const v1::JobUpdate& update : history) {
    if (update.cursor() > resume_from) {
      ASSERT_TRUE(state.Apply(update).ok());
    }
  }
  EXPECT_TRUE(state.finished());
  for (const RunProgress& run : state.runs()) EXPECT_EQ(run.steps_seen, 10);
}

TEST(WatchState, ARestartedRunStartsOverAtStepZeroWithANotice) {
  WatchState state(LabJob(17, v1::JOB_STATE_RUNNING, 1000));
  ASSERT_TRUE(state.Apply(Steps(1, 1702, 0, 5)).ok());
  // The restart and the new steps in one update: the restart applies first.
  v1::JobUpdate update = Steps(2, 1702, 0, 2);
  v1::RunRestarted* restarted = update.add_runs_restarted();
  restarted->set_run_id(1702);
  restarted->set_index(1);
  restarted->set_reason("run 1 started over from step 0: another build");
  ASSERT_TRUE(state.Apply(update).ok());
  EXPECT_EQ(state.runs()[1].steps_seen, 2);
  EXPECT_EQ(state.TakeNotices(),
            std::vector<std::string>{"run 1 started over from step 0: another build"});
  EXPECT_TRUE(state.TakeNotices().empty());
  // Steps after the restart continue as usual; a repeat is still a server bug.
  EXPECT_TRUE(state.Apply(Steps(3, 1702, 2, 1)).ok());
  EXPECT_FALSE(state.Apply(Steps(4, 1702, 0, 1)).ok());
}

TEST(WatchState, ASkippedStepIsAServerBug) {
  WatchState state(LabJob(17, v1::JOB_STATE_RUNNING, 1000));
  ASSERT_TRUE(state.Apply(Steps(1, 1701, 0, 100)).ok());
  absl::Status status = state.Apply(Steps(2, 1701, 120, 10));
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(status.message(),
            "the stream skipped steps 100-119 of run 1701: it sent steps 120-129 when step 100 "
            "was due (a server bug: please report it)");
}

TEST(WatchState, ARepeatedStepIsAServerBug) {
  WatchState state(LabJob(17, v1::JOB_STATE_RUNNING, 1000));
  ASSERT_TRUE(state.Apply(Steps(1, 1702, 0, 50)).ok());
  absl::Status status = state.Apply(Steps(2, 1702, 49, 1));
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(status.message(),
            "the stream repeated steps of run 1702: it sent step 49 when step 50 was due (a "
            "server bug: please report it)");
}

TEST(WatchState, TheFirstStepMustBeZero) {
  WatchState state(LabJob(17, v1::JOB_STATE_RUNNING, 1000));
  absl::Status status = state.Apply(Steps(1, 1703, 1, 5));
  EXPECT_THAT(std::string(status.message()), HasSubstr("skipped step 0 of run 1703"));
}

TEST(WatchState, StepsOfAnUnknownRunAreAServerBug) {
  WatchState state(LabJob(17, v1::JOB_STATE_RUNNING, 1000));
  absl::Status status = state.Apply(Steps(1, 999, 0, 1));
  EXPECT_EQ(status.message(),
            "the stream sent steps of run 999, which is not a run of job 17 (a server bug: "
            "please report it)");
}

TEST(WatchState, StepsAfterARunFinishedAreAServerBug) {
  const v1::Job job = LabJob(17, v1::JOB_STATE_RUNNING, 2);
  WatchState state(job);
  ASSERT_TRUE(state.Apply(Steps(1, 1701, 0, 2)).ok());
  v1::JobUpdate finished;
  finished.set_cursor(2);
  v1::Run* run = finished.add_runs_finished()->mutable_run();
  *run = LabJob(17, v1::JOB_STATE_SUCCEEDED, 2).runs(0);
  ASSERT_TRUE(state.Apply(finished).ok());
  absl::Status status = state.Apply(Steps(3, 1701, 2, 1));
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("sent step 2 of run 1701 after the run had finished"));
}

TEST(WatchState, AFinishedRunMustHaveDeliveredAllItsSteps) {
  WatchState state(LabJob(17, v1::JOB_STATE_RUNNING, 10));
  ASSERT_TRUE(state.Apply(Steps(1, 1701, 0, 8)).ok());
  v1::JobUpdate finished;
  finished.set_cursor(2);
  *finished.add_runs_finished()->mutable_run() = LabJob(17, v1::JOB_STATE_SUCCEEDED, 10).runs(0);
  absl::Status status = state.Apply(finished);
  EXPECT_EQ(status.message(),
            "run 1701 finished with 10 steps recorded, but the stream delivered 8 (a server "
            "bug: please report it)");
}

TEST(WatchState, EmptyStepListsAreHarmless) {
  WatchState state(LabJob(17, v1::JOB_STATE_RUNNING, 10));
  ASSERT_TRUE(state.Apply(Steps(1, 1701, 0, 0)).ok());
  EXPECT_EQ(state.runs()[0].steps_seen, 0);
  EXPECT_EQ(state.cursor(), 1u);
}

TEST(WatchState, KeepsTheLatestEvaluation) {
  WatchState state(LabJob(17, v1::JOB_STATE_RUNNING, 100));
  v1::JobUpdate update = Steps(1, 1702, 0, 51);
  v1::EvalResult* eval = update.add_evals();
  eval->set_run_id(1702);
  eval->set_step(50);
  eval->set_loss(0.5f);
  eval->set_accuracy(0.75f);
  ASSERT_TRUE(state.Apply(update).ok());
  ASSERT_TRUE(state.runs()[1].last_eval.has_value());
  EXPECT_EQ(state.runs()[1].last_eval->step(), 50);
}

TEST(WatchState, JobFinishedFillsRunsThatNeverReportedFinishing) {
  const v1::Job job = LabJob(17, v1::JOB_STATE_QUEUED, 10);
  WatchState state(job);
  v1::Job cancelled = job;
  cancelled.set_state(v1::JOB_STATE_CANCELLED);
  for (v1::Run& run : *cancelled.mutable_runs()) {
    run.set_state(v1::RUN_STATE_CANCELLED);
    run.set_outcome("cancelled at step 0");
  }
  v1::JobUpdate update;
  update.set_cursor(1);
  *update.mutable_job_finished()->mutable_job() = cancelled;
  ASSERT_TRUE(state.Apply(update).ok());
  EXPECT_TRUE(state.finished());
  EXPECT_EQ(state.job_state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(state.runs()[2].state, v1::RUN_STATE_CANCELLED);
  ASSERT_TRUE(state.runs()[2].summary.has_value());
}

TEST(RunProgress, StepsPerSecondOverTheRecentWindow) {
  RunProgress run;
  EXPECT_FALSE(run.StepsPerSecond().has_value());
  WatchState state(LabJob(17, v1::JOB_STATE_RUNNING, 1000));
  ASSERT_TRUE(state.Apply(Steps(1, 1701, 0, 10)).ok());  // 0.002 s per step
  ASSERT_TRUE(state.runs()[0].StepsPerSecond().has_value());
  EXPECT_NEAR(*state.runs()[0].StepsPerSecond(), 500, 1e-3);
  // Only the last kRateWindow steps count.
  v1::JobUpdate slow = Steps(2, 1701, 10, RunProgress::kRateWindow);
  for (int i = 0; i < slow.steps(0).seconds_size(); ++i)
    slow.mutable_steps(0)->set_seconds(i, 0.01f);
  ASSERT_TRUE(state.Apply(slow).ok());
  EXPECT_NEAR(*state.runs()[0].StepsPerSecond(), 100, 1e-2);
}

TEST(RunProgress, AFinishedRunReportsItsOwnRate) {
  RunProgress run;
  v1::Run summary;
  summary.set_steps_per_second(812.5);
  run.summary = summary;
  EXPECT_DOUBLE_EQ(*run.StepsPerSecond(), 812.5);
}

}  // namespace
}  // namespace ablate::client
