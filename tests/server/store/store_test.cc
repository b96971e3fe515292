// The Store contract (store.h) on both backends: ":memory:" and a file in a temporary directory.
#include "server/store/store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <cfloat>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "tests/server/store/test_util.h"

namespace ablate::store {
namespace {

using ::ablate::store::testing::Bits;
using ::ablate::store::testing::Eval;
using ::ablate::store::testing::ResolvedSpec;
using ::ablate::store::testing::Step;
using ::ablate::store::testing::T;
using ::ablate::store::testing::TempDir;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Bit-exact for numbers, "is NaN" for NaN: NaN payloads are not part of the contract.
::testing::AssertionResult SameFloat(float expected, float actual) {
  if (std::isnan(expected) ? std::isnan(actual) : Bits(expected) == Bits(actual)) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "expected " << expected << " (0x" << std::hex << Bits(expected) << "), got " << actual
         << " (0x" << Bits(actual) << ")";
}

::testing::AssertionResult SameDouble(double expected, double actual) {
  if (std::isnan(expected) ? std::isnan(actual) : Bits(expected) == Bits(actual)) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "expected " << expected << ", got " << actual;
}

int64_t Millis(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1000 + ts.nanos() / 1000000;
}

enum class Backend { kMemory, kFile };
void PrintTo(Backend backend, std::ostream* os) {
  *os << (backend == Backend::kMemory ? "\":memory:\"" : "a file");
}

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    path_ = GetParam() == Backend::kMemory ? ":memory:" : dir_.File("ablate.db");
    auto store = Store::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
  }

  v1::Job NewJob(const std::string& name = "lab-01-init-ablation", const std::string& owner = "ada",
                 int64_t created_ms = 1'700'000'000'000,
                 std::vector<std::string> inits = {"uniform", "xavier", "kaiming"}) {
    auto job = wire::CreateJob(*store_, ResolvedSpec(name, inits), owner, T(created_ms));
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? *job : v1::Job();
  }

  std::vector<JobCursor> MustAppend(const std::vector<Event>& events) {
    auto cursors = store_->Append(events);
    EXPECT_TRUE(cursors.ok()) << cursors.status();
    return cursors.ok() ? *cursors : std::vector<JobCursor>();
  }

  // A finished run's summary as a trainer would send it.
  static v1::Run Summary(int64_t run_id, v1::RunState state, int32_t steps_done,
                         int64_t finished_ms) {
    v1::Run run;
    run.set_id(run_id);
    run.set_state(state);
    run.set_outcome(state == v1::RUN_STATE_COMPLETED ? "completed" : "diverged at step 3");
    run.set_steps_done(steps_done);
    run.set_final_loss(0.5f);
    run.set_seconds(2.0);
    run.set_steps_per_second(steps_done / 2.0);
    *run.mutable_finished_at() =
        google::protobuf::util::TimeUtil::MillisecondsToTimestamp(finished_ms);
    return run;
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values(Backend::kMemory, Backend::kFile),
                         [](const auto& info) {
                           return info.param == Backend::kMemory ? "Memory" : "File";
                         });

// --- Jobs and runs --------------------------------------------------------------------------

TEST_P(StoreTest, CreateJobThenGetJobRoundTripsTheSpecExactly) {
  const v1::JobSpec spec = ResolvedSpec();
  // Sub-millisecond parts are dropped: times are stored in whole milliseconds.
  const absl::Time now = T(1'700'000'000'123) + absl::Microseconds(456);
  auto created = wire::CreateJob(*store_, spec, "ada", now);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_GT(created->id(), 0);
  EXPECT_EQ(created->name(), spec.name());
  EXPECT_EQ(created->owner(), "ada");
  EXPECT_EQ(created->state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(Millis(created->created_at()), 1'700'000'000'123);
  EXPECT_FALSE(created->has_started_at());
  EXPECT_FALSE(created->has_finished_at());
  std::string diff;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differencer.Compare(spec, created->spec())) << diff;
  // Presence survives too: a field set to zero or false is still set.
  EXPECT_TRUE(created->spec().training().has_momentum());
  EXPECT_TRUE(created->spec().training().has_stop_on_nonfinite());
  EXPECT_EQ(Bits(created->spec().runs(0).uniform_low()), Bits(-0.0));
  EXPECT_EQ(created->spec().runs(0).weight_seed(), 9223372036854775808ull);

  ASSERT_EQ(created->runs_size(), 3);
  std::set<int64_t> run_ids;
  for (int i = 0; i < 3; ++i) {
    const v1::Run& run = created->runs(i);
    run_ids.insert(run.id());
    EXPECT_EQ(run.job_id(), created->id());
    EXPECT_EQ(run.index(), i);
    EXPECT_EQ(run.state(), v1::RUN_STATE_QUEUED);
    EXPECT_EQ(run.outcome(), "queued");
    EXPECT_EQ(run.steps_done(), 0);
    EXPECT_TRUE(MessageDifferencer::Equals(run.spec(), spec.runs(i))) << run.spec().DebugString();
    auto got = wire::GetRun(*store_, run.id());
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(MessageDifferencer::Equals(*got, run));
  }
  EXPECT_EQ(run_ids.size(), 3u);

  auto job = wire::GetJob(*store_, created->id());
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*job, *created));
}

TEST_P(StoreTest, UnknownIdsAreNotFoundAndNamed) {
  auto job = wire::GetJob(*store_, 42);
  EXPECT_EQ(job.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(job.status().message(), "job 42 not found");
  auto run = wire::GetRun(*store_, 7);
  EXPECT_EQ(run.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(run.status().message(), "run 7 not found");
  EXPECT_EQ(store_->Cursor(42).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(wire::ReadUpdate(*store_, 42, 0, 10).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetTrajectory(7).status().message(), "run 7 not found");
}

TEST_P(StoreTest, RunSummaryIsLiveWhileRunningAndTheTrainersWhenFinished) {
  const v1::Job job = NewJob();
  const int64_t run = job.runs(0).id();
  MustAppend({JobStartedEvent{job.id(), T(5000)}, RunStartedEvent{run, T(5001)},
              Step(run, 0, 0.75f, 1.0f, 0.25f), Step(run, 1, 0.70f, 1.0f, 0.25f)});
  MustAppend({Step(run, 2, 0.65f, 1.0f, 0.25f), Step(run, 3, 0.60f, 1.0f, 0.25f)});

  auto running = wire::GetRun(*store_, run);
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_EQ(running->state(), v1::RUN_STATE_RUNNING);
  EXPECT_EQ(running->outcome(), "running");
  EXPECT_EQ(running->steps_done(), 4);
  EXPECT_DOUBLE_EQ(running->seconds(), 1.0);
  EXPECT_DOUBLE_EQ(running->steps_per_second(), 4.0);
  ASSERT_TRUE(running->has_final_loss());
  EXPECT_EQ(running->final_loss(), 0.60f);
  EXPECT_FALSE(running->has_first_nonfinite_step());
  EXPECT_EQ(Millis(running->started_at()), 5001);
  auto job_now = wire::GetJob(*store_, job.id());
  ASSERT_TRUE(job_now.ok());
  EXPECT_EQ(job_now->state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(Millis(job_now->started_at()), 5000);

  v1::Run summary = Summary(run, v1::RUN_STATE_COMPLETED, 4, 9000);
  summary.set_flatline_step(2);
  summary.mutable_final_eval()->set_run_id(run);
  summary.mutable_final_eval()->set_step(3);
  summary.mutable_final_eval()->set_loss(0.625f);
  summary.mutable_final_eval()->set_accuracy(0.875f);
  v1::LayerStats* stats = summary.add_init_stats();
  stats->set_weight_variance(1.0 / 12);
  stats->set_activation_mean(0.0);  // a zero that must still be there
  stats->set_activation_std(0.1);
  summary.add_final_stats()->set_weight_variance(0.02);
  MustAppend({RunFinishedEvent{wire::RunSummaryFromProto(summary)}});

  auto finished = wire::GetRun(*store_, run);
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_EQ(finished->state(), v1::RUN_STATE_COMPLETED);
  EXPECT_EQ(finished->outcome(), "completed");
  EXPECT_EQ(finished->steps_done(), 4);
  EXPECT_EQ(finished->seconds(), 2.0);
  EXPECT_EQ(finished->steps_per_second(), 2.0);
  EXPECT_EQ(finished->flatline_step(), 2);
  // The summary says 0.5, but the run recorded 0.60 last: the trajectory is the record.
  EXPECT_EQ(finished->final_loss(), 0.60f);
  EXPECT_TRUE(MessageDifferencer::Equals(finished->final_eval(), summary.final_eval()));
  ASSERT_EQ(finished->init_stats_size(), 1);
  EXPECT_TRUE(MessageDifferencer::Equals(finished->init_stats(0), summary.init_stats(0)));
  ASSERT_EQ(finished->final_stats_size(), 1);
  EXPECT_EQ(finished->final_stats(0).weight_variance(), 0.02);
  EXPECT_EQ(Millis(finished->started_at()), 5001);
  EXPECT_EQ(Millis(finished->finished_at()), 9000);
  EXPECT_TRUE(MessageDifferencer::Equals(finished->spec(), job.runs(0).spec()));
}

TEST_P(StoreTest, ASummaryWithoutMeasurementsKeepsWhatTheStepsRecorded) {
  const v1::Job job = NewJob();
  const int64_t run = job.runs(0).id();
  MustAppend({RunStartedEvent{run, T(1)}, Step(run, 0, 0.7f, 1.0f, 0.5f),
              Step(run, 1, kNaN, 1.0f, 0.5f), Step(run, 2, 0.6f, 1.0f, 0.5f)});
  // What a failure reports: a state and a reason, nothing measured.
  v1::Run failure;
  failure.set_id(run);
  failure.set_job_id(job.id());
  failure.set_state(v1::RUN_STATE_FAILED);
  failure.set_outcome("out of memory");
  MustAppend({RunFinishedEvent{wire::RunSummaryFromProto(failure)}});
  auto got = wire::GetRun(*store_, run);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->state(), v1::RUN_STATE_FAILED);
  EXPECT_EQ(got->outcome(), "out of memory");
  EXPECT_EQ(got->steps_done(), 3);
  EXPECT_EQ(got->first_nonfinite_step(), 1);
  EXPECT_EQ(got->final_loss(), 0.6f);
  EXPECT_DOUBLE_EQ(got->seconds(), 1.5);
  EXPECT_DOUBLE_EQ(got->steps_per_second(), 2.0);
  EXPECT_FALSE(got->has_finished_at());
}

TEST_P(StoreTest, ARunCancelledBeforeItStartedTakesItsSummary) {
  const v1::Job job = NewJob();
  const int64_t run = job.runs(2).id();
  v1::Run cancelled;
  cancelled.set_id(run);
  cancelled.set_state(v1::RUN_STATE_CANCELLED);
  cancelled.set_outcome("cancelled at step 0");
  *cancelled.mutable_finished_at() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(77);
  MustAppend({RunFinishedEvent{wire::RunSummaryFromProto(cancelled)}});
  auto got = wire::GetRun(*store_, run);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->state(), v1::RUN_STATE_CANCELLED);
  EXPECT_EQ(got->outcome(), "cancelled at step 0");
  EXPECT_EQ(got->steps_done(), 0);
  EXPECT_FALSE(got->has_final_loss());
  EXPECT_FALSE(got->has_started_at());
  EXPECT_EQ(Millis(got->finished_at()), 77);
  auto update = wire::ReadUpdate(*store_, job.id(), 0, 10);
  ASSERT_TRUE(update.ok());
  ASSERT_EQ(update->runs_finished_size(), 1);
  EXPECT_EQ(update->runs_started_size(), 0);
}

TEST_P(StoreTest, ARunRestartedFromStepZeroSetsItsStepsAsideAndSaysWhy) {
  const v1::Job job = NewJob();
  const int64_t run = job.runs(1).id();
  const int64_t other = job.runs(0).id();
  MustAppend({RunStartedEvent{run, T(1), "fp1-00000000000000aa"}, RunStartedEvent{other, T(1)},
              Step(run, 0, 0.7f), Step(run, 1, kNaN), Eval(run, 1, 0.6f, 0.5f),
              Step(other, 0, 0.9f)});
  auto before = store_->Cursor(job.id());
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(wire::GetRun(*store_, run)->fingerprint(), "fp1-00000000000000aa");
  // A step in the same batch before the restart goes aside with the others.
  MustAppend({Step(run, 2, 0.5f), RunRestartedEvent{run, "run 1 started over: why", T(5)},
              RunStartedEvent{run, T(6), "fp1-00000000000000bb"}, Step(run, 0, 0.8f)});

  auto got = wire::GetRun(*store_, run);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->steps_done(), 1);
  EXPECT_EQ(got->final_loss(), 0.8f);
  EXPECT_FALSE(got->has_first_nonfinite_step());
  EXPECT_EQ(got->restart_reason(), "run 1 started over: why");
  EXPECT_EQ(got->fingerprint(), "fp1-00000000000000bb");
  auto trajectory = store_->GetTrajectory(run);
  ASSERT_TRUE(trajectory.ok());
  EXPECT_EQ(trajectory->steps, std::vector<int32_t>{0});
  EXPECT_TRUE(trajectory->evals.empty());
  EXPECT_EQ(store_->GetTrajectory(other)->steps.size(), 1u) << "the other run is untouched";

  // A watcher from before the restart learns of it; one from the start sees only new steps.
  auto update = wire::ReadUpdate(*store_, job.id(), *before, 100);
  ASSERT_TRUE(update.ok()) << update.status();
  ASSERT_EQ(update->runs_restarted_size(), 1);
  EXPECT_EQ(update->runs_restarted(0).run_id(), run);
  EXPECT_EQ(update->runs_restarted(0).index(), 1);
  EXPECT_EQ(update->runs_restarted(0).reason(), "run 1 started over: why");
  auto all = wire::ReadUpdate(*store_, job.id(), 0, 100);
  ASSERT_TRUE(all.ok());
  int run_steps = 0;
  for (const v1::StepLosses& steps : all->steps()) {
    if (steps.run_id() == run) run_steps += steps.losses_size();
  }
  EXPECT_EQ(run_steps, 1);
  EXPECT_EQ(all->evals_size(), 0);

  // A run that has ended cannot start over; a deleted job takes its set-aside rows along.
  v1::Run done;
  done.set_id(run);
  done.set_state(v1::RUN_STATE_COMPLETED);
  MustAppend({RunFinishedEvent{wire::RunSummaryFromProto(done)}});
  auto late = store_->Append(std::vector<Event>{RunRestartedEvent{run, "late", T(9)}});
  EXPECT_TRUE(absl::IsFailedPrecondition(late.status())) << late.status();
  v1::Run other_done = done;
  other_done.set_id(other);
  v1::Run third_done = done;
  third_done.set_id(job.runs(2).id());
  MustAppend({RunFinishedEvent{wire::RunSummaryFromProto(other_done)}, RunFinishedEvent{wire::RunSummaryFromProto(third_done)},
              JobFinishedEvent{job.id(), JobState::kSucceeded, "", T(10)}});
  EXPECT_TRUE(store_->DeleteJob(job.id()).ok());
}

TEST_P(StoreTest, ARestartedRunKeepsItsFirstStartAndIsAnnouncedAgain) {
  const v1::Job job = NewJob();
  const int64_t run = job.runs(1).id();
  MustAppend({RunStartedEvent{run, T(1000)}, Step(run, 0, 0.7f), Step(run, 1, 0.6f)});
  auto before_restart = store_->Cursor(job.id());
  ASSERT_TRUE(before_restart.ok());
  MustAppend({RunStartedEvent{run, T(8000)}, Step(run, 2, 0.5f)});

  auto got = wire::GetRun(*store_, run);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(Millis(got->started_at()), 1000);
  EXPECT_EQ(got->steps_done(), 3);
  auto update = wire::ReadUpdate(*store_, job.id(), *before_restart, 100);
  ASSERT_TRUE(update.ok()) << update.status();
  ASSERT_EQ(update->runs_started_size(), 1);
  EXPECT_EQ(update->runs_started(0).run_id(), run);
  EXPECT_EQ(update->runs_started(0).index(), 1);
  ASSERT_EQ(update->steps_size(), 1);
  EXPECT_EQ(update->steps(0).first_step(), 2);
  // From the beginning, the run is announced once (its latest start) and no step is lost.
  auto all = wire::ReadUpdate(*store_, job.id(), 0, 100);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->runs_started_size(), 1);
  ASSERT_EQ(all->steps_size(), 1);
  EXPECT_EQ(all->steps(0).losses_size(), 3);
}

// A job never ends while one of its runs has not: whatever lost a run's end, the job's end
// ends it first, with an event of its own and a reason, and a "succeeded" job fails.
TEST_P(StoreTest, AJobsEndEndsEveryRunThatHasNot) {
  const v1::Job job = NewJob();
  const int64_t done = job.runs(0).id();
  const int64_t running = job.runs(1).id();
  v1::Run completed = Summary(done, v1::RUN_STATE_COMPLETED, 1, 5000);
  MustAppend({JobStartedEvent{job.id(), T(1000)}, RunStartedEvent{done, T(1000)},
              Step(done, 0, 0.5f), RunFinishedEvent{wire::RunSummaryFromProto(completed)}, RunStartedEvent{running, T(2000)},
              Step(running, 0, 0.7f),
              JobFinishedEvent{job.id(), JobState::kSucceeded, "", T(6000)}});
  auto got = wire::GetJob(*store_, job.id());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->runs(0).state(), v1::RUN_STATE_COMPLETED);
  for (int i : {1, 2}) {
    EXPECT_EQ(got->runs(i).state(), v1::RUN_STATE_FAILED) << i;
    EXPECT_EQ(got->runs(i).outcome(), "its end was never recorded before its job ended") << i;
    EXPECT_EQ(Millis(got->runs(i).finished_at()), 6000) << i;
  }
  EXPECT_EQ(got->runs(1).steps_done(), 1) << "the recorded step stays";
  EXPECT_EQ(got->state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(got->error(), "run 1: its end was never recorded before its job ended");
  // Watchers hear of each run's end before the job's.
  auto update = wire::ReadUpdate(*store_, job.id(), 0, 100);
  ASSERT_TRUE(update.ok()) << update.status();
  EXPECT_EQ(update->runs_finished_size(), 3);
  EXPECT_TRUE(update->has_job_finished());

  // In a cancelled job, a run that never ended is cancelled with it; the job stays cancelled.
  const v1::Job other = NewJob("other");
  MustAppend({JobFinishedEvent{other.id(), JobState::kCancelled, "", T(7000)}});
  got = wire::GetJob(*store_, other.id());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->state(), v1::JOB_STATE_CANCELLED);
  for (const v1::Run& run : got->runs()) {
    EXPECT_EQ(run.state(), v1::RUN_STATE_CANCELLED);
    EXPECT_EQ(run.outcome(), "cancelled with its job");
  }
}

TEST_P(StoreTest, UnfinishedJobsAreQueuedOrRunningOldestFirst) {
  const v1::Job queued = NewJob("a");
  const v1::Job running = NewJob("b");
  const v1::Job done = NewJob("c");
  const v1::Job failed = NewJob("d");
  const v1::Job queued_later = NewJob("e");
  MustAppend({JobStartedEvent{running.id(), T(1)}, JobStartedEvent{done.id(), T(1)},
              JobFinishedEvent{done.id(), JobState::kSucceeded, "", T(2)},
              JobFinishedEvent{failed.id(), JobState::kFailed, "out of memory", T(2)}});
  auto ids = store_->UnfinishedJobs();
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_THAT(*ids, ElementsAre(queued.id(), running.id(), queued_later.id()));
  auto failed_now = wire::GetJob(*store_, failed.id());
  ASSERT_TRUE(failed_now.ok());
  EXPECT_EQ(failed_now->state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(failed_now->error(), "out of memory");
  EXPECT_EQ(Millis(failed_now->finished_at()), 2);
}

TEST_P(StoreTest, CountActiveJobsCountsOneOwnersQueuedAndRunningJobs) {
  const v1::Job queued = NewJob("a", "ada");
  const v1::Job running = NewJob("b", "ada");
  const v1::Job done = NewJob("c", "ada");
  const v1::Job cancelled = NewJob("d", "ada");
  NewJob("e", "bob");
  MustAppend({JobStartedEvent{running.id(), T(1)}, JobStartedEvent{done.id(), T(1)},
              JobFinishedEvent{done.id(), JobState::kSucceeded, "", T(2)},
              JobFinishedEvent{cancelled.id(), JobState::kCancelled, "", T(2)}});
  EXPECT_EQ(*store_->CountActiveJobs("ada"), 2);
  EXPECT_EQ(*store_->CountActiveJobs("bob"), 1);
  EXPECT_EQ(*store_->CountActiveJobs("nobody"), 0);
  EXPECT_EQ(*store_->CountActiveJobs("Ada"), 0);  // owners are compared exactly
}

// --- Exact floats ---------------------------------------------------------------------------

// Values that a careless encoding would change: NaN (SQLite's NULL), both infinities, -0.0
// (a REAL column's integer shortcut), denormals, the extremes, and ordinary fractions.
const std::vector<float> kAwkwardFloats = {
    -0.0f,
    std::numeric_limits<float>::denorm_min(),
    kNaN,
    kInf,
    -kInf,
    0.0f,
    -std::numeric_limits<float>::denorm_min(),
    1e-40f,  // denormal
    FLT_MIN,
    FLT_MAX,
    -FLT_MAX,
    1.0f / 3.0f,
    std::nextafter(1.0f, 2.0f),
    0.6931472f,
    -kNaN,
    2.5f,
};
constexpr int kFirstNonfinite = 2;  // index of the first NaN/inf above

TEST_P(StoreTest, NonFiniteAndAwkwardFloatsRoundTripExactly) {
  const v1::Job job = NewJob();
  const int64_t run = job.runs(0).id();
  const int n = static_cast<int>(kAwkwardFloats.size());
  std::vector<Event> events = {RunStartedEvent{run, T(1)}};
  for (int i = 0; i < n; ++i) {
    events.push_back(Step(run, i, kAwkwardFloats[i], kAwkwardFloats[n - 1 - i], 0.125f));
    events.push_back(Eval(run, i, kAwkwardFloats[i], 0.5f));
  }
  MustAppend(events);

  auto trajectory = store_->GetTrajectory(run);
  ASSERT_TRUE(trajectory.ok()) << trajectory.status();
  ASSERT_EQ(trajectory->losses.size(), kAwkwardFloats.size());
  ASSERT_EQ(trajectory->evals.size(), kAwkwardFloats.size());
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(trajectory->steps[i], i);
    EXPECT_TRUE(SameFloat(kAwkwardFloats[i], trajectory->losses[i])) << "step " << i;
    EXPECT_TRUE(SameFloat(kAwkwardFloats[n - 1 - i], trajectory->weight_grad_norms[i]))
        << "step " << i;
    EXPECT_EQ(trajectory->step_seconds[i], 0.125f);
    EXPECT_EQ(trajectory->evals[i].step, i);
    EXPECT_TRUE(SameFloat(kAwkwardFloats[i], trajectory->evals[i].loss)) << "eval " << i;
  }

  auto update = wire::ReadUpdate(*store_, job.id(), 0, 1000);
  ASSERT_TRUE(update.ok()) << update.status();
  ASSERT_EQ(update->steps_size(), 1);  // steps 0..n-1 are consecutive: one group
  ASSERT_EQ(update->steps(0).losses_size(), n);
  ASSERT_EQ(update->evals_size(), n);
  for (int i = 0; i < n; ++i) {
    EXPECT_TRUE(SameFloat(kAwkwardFloats[i], update->steps(0).losses(i))) << "step " << i;
    EXPECT_TRUE(SameFloat(kAwkwardFloats[i], update->evals(i).loss())) << "eval " << i;
  }

  auto live = wire::GetRun(*store_, run);
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(live->first_nonfinite_step(), kFirstNonfinite);
  EXPECT_TRUE(SameFloat(kAwkwardFloats.back(), live->final_loss()));
}

TEST_P(StoreTest, FirstNonfiniteStepIsTheFirstAcrossBatches) {
  const v1::Job job = NewJob();
  const int64_t run = job.runs(2).id();
  MustAppend({RunStartedEvent{run, T(1)}, Step(run, 0, 1.0f), Step(run, 1, 2.0f),
              Step(run, 2, kInf), Step(run, 3, kNaN)});
  MustAppend({Step(run, 4, -kInf), Step(run, 5, 1.0f)});
  auto got = wire::GetRun(*store_, run);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->first_nonfinite_step(), 2);
  EXPECT_EQ(got->final_loss(), 1.0f);
  MustAppend({Step(run, 6, kNaN)});
  got = wire::GetRun(*store_, run);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->first_nonfinite_step(), 2);
  EXPECT_TRUE(std::isnan(got->final_loss()));
}

TEST_P(StoreTest, SummaryWithNonFiniteValuesRoundTripsExactly) {
  const v1::Job job = NewJob();
  const int64_t run = job.runs(0).id();
  v1::Run summary = Summary(run, v1::RUN_STATE_DIVERGED, 4, 7000);
  summary.set_first_nonfinite_step(3);
  summary.set_final_loss(-kInf);
  summary.mutable_final_eval()->set_run_id(run);
  summary.mutable_final_eval()->set_step(3);
  summary.mutable_final_eval()->set_loss(kNaN);
  summary.mutable_final_eval()->set_accuracy(0.5f);
  const std::vector<double> doubles = {std::numeric_limits<double>::quiet_NaN(),
                                       std::numeric_limits<double>::infinity(),
                                       -std::numeric_limits<double>::infinity(),
                                       -0.0,
                                       std::numeric_limits<double>::denorm_min(),
                                       DBL_MAX,
                                       1.0 / 12,
                                       0.1 + 0.2,
                                       0.0};
  for (size_t i = 0; i + 2 < doubles.size(); i += 3) {
    v1::LayerStats* init = summary.add_init_stats();
    init->set_weight_variance(doubles[i]);
    init->set_activation_mean(doubles[i + 1]);
    init->set_activation_std(doubles[i + 2]);
    v1::LayerStats* last = summary.add_final_stats();
    last->set_weight_variance(doubles[i + 2]);
    last->set_activation_mean(doubles[i]);
    last->set_activation_std(doubles[i + 1]);
  }
  MustAppend({RunStartedEvent{run, T(1)}, Step(run, 0, 1.0f), Step(run, 1, 1.0f),
              Step(run, 2, 1.0f), Step(run, 3, -kInf), RunFinishedEvent{wire::RunSummaryFromProto(summary)}});

  auto got = wire::GetRun(*store_, run);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->state(), v1::RUN_STATE_DIVERGED);
  EXPECT_EQ(got->first_nonfinite_step(), 3);
  EXPECT_TRUE(SameFloat(-kInf, got->final_loss()));
  EXPECT_TRUE(std::isnan(got->final_eval().loss()));
  // An accuracy beside a non-finite loss is only what comparisons with NaN count: not kept.
  EXPECT_FALSE(got->final_eval().has_accuracy());
  ASSERT_EQ(got->init_stats_size(), summary.init_stats_size());
  ASSERT_EQ(got->final_stats_size(), summary.final_stats_size());
  for (int i = 0; i < summary.init_stats_size(); ++i) {
    for (const auto& [want, have] : {std::pair{summary.init_stats(i), got->init_stats(i)},
                                     std::pair{summary.final_stats(i), got->final_stats(i)}}) {
      EXPECT_TRUE(SameDouble(want.weight_variance(), have.weight_variance())) << i;
      EXPECT_TRUE(SameDouble(want.activation_mean(), have.activation_mean())) << i;
      EXPECT_TRUE(SameDouble(want.activation_std(), have.activation_std())) << i;
    }
  }
}

// Every number form, through every JSON the store keeps: the spec's JSON view and the runs'
// init_stats and final_stats. Each reads back with its bits, and each column stays JSON that
// SQL can read (a text patch once turned 1e-05 into 1e-0.05, which SQLite's CHECK refused).
TEST_P(StoreTest, EveryNumberFormRoundTripsThroughTheJsonTheStoreKeeps) {
  const std::vector<double> forms = {-0.0,
                                     1e-05,
                                     1e-320,
                                     1e+30,
                                     std::numeric_limits<double>::quiet_NaN(),
                                     std::numeric_limits<double>::infinity(),
                                     -std::numeric_limits<double>::infinity(),
                                     1.25e-7,
                                     -3e-05};
  for (double form : forms) {
    SCOPED_TRACE(form);
    v1::JobSpec spec = ResolvedSpec();
    spec.mutable_training()->set_lr(form);
    spec.mutable_training()->set_momentum(form);
    spec.mutable_runs(0)->set_uniform_low(form);
    auto job = wire::CreateJob(*store_, spec, "ada", T(1000));
    ASSERT_TRUE(job.ok()) << job.status();
    const int64_t run = job->runs(0).id();
    auto got_job = wire::GetJob(*store_, job->id());
    ASSERT_TRUE(got_job.ok()) << got_job.status();
    EXPECT_TRUE(SameDouble(form, got_job->spec().training().lr()));
    EXPECT_TRUE(SameDouble(form, got_job->spec().training().momentum()));
    EXPECT_TRUE(SameDouble(form, got_job->spec().runs(0).uniform_low()));

    v1::Run summary = Summary(run, v1::RUN_STATE_COMPLETED, 0, 2000);
    for (int layer = 0; layer < 2; ++layer) {
      v1::LayerStats* init = summary.add_init_stats();
      init->set_weight_variance(form);
      init->set_activation_mean(-form);
      init->set_activation_std(layer == 0 ? form : 0.5);
      *summary.add_final_stats() = *init;
      // Optional: present on the first layer only, and absent stays absent.
      if (layer == 0) init->set_first_step_grad_norm(form);
    }
    MustAppend({RunStartedEvent{run, T(1500)}, RunFinishedEvent{wire::RunSummaryFromProto(summary)}});
    auto got = wire::GetRun(*store_, run);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->init_stats_size(), 2);
    ASSERT_EQ(got->final_stats_size(), 2);
    for (int layer = 0; layer < 2; ++layer) {
      for (const v1::LayerStats* have : {&got->init_stats(layer), &got->final_stats(layer)}) {
        EXPECT_TRUE(SameDouble(form, have->weight_variance()));
        EXPECT_TRUE(SameDouble(-form, have->activation_mean()));
        EXPECT_TRUE(SameDouble(layer == 0 ? form : 0.5, have->activation_std()));
      }
      EXPECT_EQ(got->init_stats(layer).has_first_step_grad_norm(), layer == 0);
      if (layer == 0) {
        EXPECT_TRUE(SameDouble(form, got->init_stats(0).first_step_grad_norm()));
      }
      EXPECT_FALSE(got->final_stats(layer).has_first_step_grad_norm());
    }
  }
  if (GetParam() != Backend::kFile) return;
  // What a person with the sqlite3 shell sees: valid JSON everywhere, finite numbers as
  // numbers (with their sign), non-finite ones as null beside a class, as in the columns.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  auto text = [db](const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    std::vector<std::string> rows;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(stmt, 0);
      rows.push_back(t == nullptr ? "NULL" : reinterpret_cast<const char*>(t));
    }
    sqlite3_finalize(stmt);
    return rows;
  };
  EXPECT_THAT(text("SELECT count(*) FROM jobs WHERE NOT json_valid(spec)"), ElementsAre("0"));
  EXPECT_THAT(text("SELECT count(*) FROM runs WHERE NOT json_valid(init_stats) OR "
                   "NOT json_valid(final_stats)"),
              ElementsAre("0"));
  EXPECT_THAT(text("SELECT json_extract(spec, '$.training.lr') FROM jobs WHERE id = 2"),
              ElementsAre("1.0e-05"));
  EXPECT_THAT(
      text("SELECT typeof(json_extract(init_stats, '$[0].weight_variance')) || ' ' || "
           "coalesce(json_extract(init_stats, '$[0].weight_variance_class'), '-') FROM runs "
           "WHERE init_stats <> '[]' ORDER BY id"),
      ElementsAre("real -", "real -", "real -", "real -", "null nan", "null inf", "null -inf",
                  "real -", "real -"));
  // SQL reads the finite ones with their bits, -0.0's sign and the subnormal included.
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT json_extract(init_stats, '$[0].weight_variance') FROM runs "
                               "WHERE init_stats <> '[]' ORDER BY id",
                               -1, &stmt, nullptr),
            SQLITE_OK);
  for (double form : forms) {
    ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
    if (std::isfinite(form)) {
      EXPECT_EQ(Bits(sqlite3_column_double(stmt, 0)), Bits(form)) << form;
    }
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

// --- ReadUpdate -----------------------------------------------------------------------------

// Everything a sequence of updates delivered, keyed so that a repeat is visible.
struct Watched {
  std::map<std::pair<int64_t, int32_t>, std::vector<float>> steps;  // (run, step) → losses seen
  std::map<std::pair<int64_t, int32_t>, int> evals;
  std::map<int64_t, int> runs_started;
  std::map<int64_t, int> runs_finished;
  int job_finished = 0;
  bool job_finished_in_last_update = false;
  int updates = 0;
};

// Reads the job from `cursor` on in slices of `max_events` until nothing is new, checking the
// cursor rules on the way; returns the final cursor.
uint64_t Drain(Store& store, int64_t job_id, uint64_t cursor, int max_events, Watched& out) {
  while (true) {
    auto update = wire::ReadUpdate(store, job_id, cursor, max_events);
    EXPECT_TRUE(update.ok()) << update.status();
    if (!update.ok()) return cursor;
    if (update->cursor() == cursor) {
      // Nothing new, and nothing returned.
      EXPECT_EQ(update->steps_size() + update->evals_size() + update->runs_started_size() +
                    update->runs_finished_size(),
                0);
      EXPECT_FALSE(update->has_job_finished());
      return cursor;
    }
    EXPECT_GT(update->cursor(), cursor);
    EXPECT_LE(update->cursor() - cursor, static_cast<uint64_t>(max_events));
    cursor = update->cursor();
    ++out.updates;
    EXPECT_EQ(out.job_finished, 0) << "an update after job_finished";
    for (const v1::StepLosses& group : update->steps()) {
      EXPECT_EQ(group.losses_size(), group.seconds_size());
      for (int i = 0; i < group.losses_size(); ++i) {
        out.steps[{group.run_id(), group.first_step() + i}].push_back(group.losses(i));
      }
    }
    for (const v1::EvalResult& eval : update->evals()) ++out.evals[{eval.run_id(), eval.step()}];
    for (const v1::RunStarted& started : update->runs_started())
      ++out.runs_started[started.run_id()];
    for (const v1::RunFinished& finished : update->runs_finished()) {
      ++out.runs_finished[finished.run().id()];
      EXPECT_TRUE(finished.run().has_finished_at());
    }
    if (update->has_job_finished()) {
      ++out.job_finished;
      EXPECT_EQ(update->job_finished().job().state(), v1::JOB_STATE_SUCCEEDED);
      EXPECT_EQ(update->job_finished().job().runs_size(), 3);
    }
  }
}

// The loss a run records at a step in the interleaved history below; run 2 goes non-finite.
float LossAt(int run_index, int step) {
  if (run_index == 2 && step == 40) return kNaN;
  if (run_index == 2 && step == 41) return kInf;
  if (run_index == 2 && step == 42) return -kInf;
  if (step % 13 == 5) return -0.0f;
  return std::ldexp(1.0f + step / 64.0f, -run_index);
}

constexpr int kSteps = 60;

// Three runs' history, interleaved as parallel runs produce it.
std::vector<Event> InterleavedHistory(const v1::Job& job) {
  std::vector<Event> events = {JobStartedEvent{job.id(), T(10)}};
  for (const v1::Run& run : job.runs()) events.push_back(RunStartedEvent{run.id(), T(11)});
  for (int step = 0; step < kSteps; ++step) {
    for (int r = 0; r < 3; ++r) {
      const int64_t run = job.runs(r).id();
      events.push_back(Step(run, step, LossAt(r, step)));
      if (step % 10 == 9) events.push_back(Eval(run, step, LossAt(r, step), 0.5f));
    }
  }
  for (int r = 0; r < 3; ++r) {
    v1::Run summary;
    summary.set_id(job.runs(r).id());
    summary.set_state(r == 2 ? v1::RUN_STATE_DIVERGED : v1::RUN_STATE_COMPLETED);
    summary.set_steps_done(kSteps);
    *summary.mutable_finished_at() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(99);
    events.push_back(RunFinishedEvent{wire::RunSummaryFromProto(summary)});
  }
  events.push_back(JobFinishedEvent{job.id(), JobState::kSucceeded, "", T(100)});
  return events;
}

void ExpectCompleteHistory(const v1::Job& job, const Watched& watched) {
  ASSERT_EQ(watched.steps.size(), 3u * kSteps);
  for (int r = 0; r < 3; ++r) {
    const int64_t run = job.runs(r).id();
    EXPECT_EQ(watched.runs_started.at(run), 1);
    EXPECT_EQ(watched.runs_finished.at(run), 1);
    for (int step = 0; step < kSteps; ++step) {
      const std::vector<float>& seen = watched.steps.at({run, step});
      ASSERT_EQ(seen.size(), 1u) << "run " << r << " step " << step;
      EXPECT_TRUE(SameFloat(LossAt(r, step), seen[0])) << "run " << r << " step " << step;
      if (step % 10 == 9) {
        EXPECT_EQ(watched.evals.at({run, step}), 1);
      }
    }
  }
  EXPECT_EQ(watched.evals.size(), 3u * kSteps / 10);
  EXPECT_EQ(watched.job_finished, 1);
}

TEST_P(StoreTest, SlicesOfAnyWidthConcatenateToTheWholeHistoryOnce) {
  const v1::Job job = NewJob();
  const std::vector<Event> history = InterleavedHistory(job);
  // Appended in batches of uneven sizes, as the writer thread does.
  const int batch_sizes[] = {1, 5, 17, 2, 64, 3};
  size_t at = 0;
  for (int b = 0; at < history.size(); ++b) {
    size_t n = std::min<size_t>(batch_sizes[b % 6], history.size() - at);
    auto cursors = store_->Append(std::span<const Event>(history).subspan(at, n));
    ASSERT_TRUE(cursors.ok()) << cursors.status();
    at += n;
    ASSERT_EQ(cursors->size(), 1u);
    EXPECT_EQ((*cursors)[0].job_id, job.id());
    EXPECT_EQ((*cursors)[0].cursor, at);  // one sequence number per event
  }
  auto last = store_->Cursor(job.id());
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, history.size());

  for (int max_events : {1, 2, 3, 7, 50, 1000000}) {
    SCOPED_TRACE(::testing::Message() << "max_events " << max_events);
    Watched watched;
    EXPECT_EQ(Drain(*store_, job.id(), 0, max_events, watched), *last);
    ExpectCompleteHistory(job, watched);
    // Every slice is full until the last: ceil(events / max_events) updates.
    EXPECT_EQ(watched.updates, static_cast<int>((history.size() + max_events - 1) / max_events));
  }
}

TEST_P(StoreTest, ReadingWhileAppendingMissesAndRepeatsNothing) {
  const v1::Job job = NewJob();
  const std::vector<Event> history = InterleavedHistory(job);
  Watched watched;
  uint64_t cursor = 0;
  for (size_t at = 0; at < history.size(); at += 11) {
    size_t n = std::min<size_t>(11, history.size() - at);
    ASSERT_TRUE(store_->Append(std::span<const Event>(history).subspan(at, n)).ok());
    cursor = Drain(*store_, job.id(), cursor, 4, watched);
    EXPECT_EQ(cursor, at + n);
  }
  ExpectCompleteHistory(job, watched);
}

TEST_P(StoreTest, StepsAreGroupedIntoConsecutiveRunsPerRun) {
  const v1::Job job = NewJob();
  const int64_t a = job.runs(0).id();
  const int64_t b = job.runs(1).id();
  MustAppend({RunStartedEvent{a, T(1)}, RunStartedEvent{b, T(1)}, Step(a, 0, 1.0f),
              Step(b, 0, 2.0f), Step(a, 1, 1.5f), Step(b, 1, 2.5f), Step(a, 2, 1.25f)});
  auto update = wire::ReadUpdate(*store_, job.id(), 0, 100);
  ASSERT_TRUE(update.ok()) << update.status();
  EXPECT_EQ(update->cursor(), 7u);
  ASSERT_EQ(update->runs_started_size(), 2);
  EXPECT_EQ(update->runs_started(0).run_id(), a);
  EXPECT_EQ(update->runs_started(1).run_id(), b);
  ASSERT_EQ(update->steps_size(), 2);
  EXPECT_EQ(update->steps(0).run_id(), a);
  EXPECT_EQ(update->steps(0).first_step(), 0);
  EXPECT_THAT(update->steps(0).losses(), ElementsAre(1.0f, 1.5f, 1.25f));
  EXPECT_THAT(update->steps(0).seconds(), ElementsAre(0.25f, 0.25f, 0.25f));
  EXPECT_EQ(update->steps(1).run_id(), b);
  EXPECT_THAT(update->steps(1).losses(), ElementsAre(2.0f, 2.5f));
  EXPECT_FALSE(update->has_job_finished());

  // A slice starting mid-run starts its group at that step.
  update = wire::ReadUpdate(*store_, job.id(), 4, 2);
  ASSERT_TRUE(update.ok());
  EXPECT_EQ(update->cursor(), 6u);
  ASSERT_EQ(update->steps_size(), 2);
  EXPECT_EQ(update->steps(0).first_step(), 1);
  EXPECT_EQ(update->steps(1).first_step(), 1);
  EXPECT_EQ(update->runs_started_size(), 0);

  // Nothing new: the cursor stays where it was.
  update = wire::ReadUpdate(*store_, job.id(), 7, 100);
  ASSERT_TRUE(update.ok());
  EXPECT_EQ(update->cursor(), 7u);
  EXPECT_EQ(update->steps_size(), 0);
}

TEST_P(StoreTest, ReadUpdateCarriesFinishedRunsAndJobAsStored) {
  const v1::Job job = NewJob("solo", "ada", 1000, {"kaiming"});
  const int64_t run = job.runs(0).id();
  MustAppend({JobStartedEvent{job.id(), T(1)}, RunStartedEvent{run, T(2)}, Step(run, 0, 0.7f),
              RunFinishedEvent{wire::RunSummaryFromProto(Summary(run, v1::RUN_STATE_COMPLETED, 1, 3))},
              JobFinishedEvent{job.id(), JobState::kSucceeded, "", T(4)}});
  auto update = wire::ReadUpdate(*store_, job.id(), 3, 100);
  ASSERT_TRUE(update.ok()) << update.status();
  EXPECT_EQ(update->cursor(), 5u);
  ASSERT_EQ(update->runs_finished_size(), 1);
  auto stored_run = wire::GetRun(*store_, run);
  ASSERT_TRUE(stored_run.ok());
  EXPECT_TRUE(MessageDifferencer::Equals(update->runs_finished(0).run(), *stored_run));
  ASSERT_TRUE(update->has_job_finished());
  auto stored_job = wire::GetJob(*store_, job.id());
  ASSERT_TRUE(stored_job.ok());
  EXPECT_TRUE(MessageDifferencer::Equals(update->job_finished().job(), *stored_job));
  EXPECT_EQ(stored_job->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(Millis(stored_job->finished_at()), 4);
}

TEST_P(StoreTest, ReadUpdateRefusesANonPositiveMaxEvents) {
  const v1::Job job = NewJob();
  for (int bad : {0, -1}) {
    auto update = wire::ReadUpdate(*store_, job.id(), 0, bad);
    EXPECT_EQ(update.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(update.status().message(), HasSubstr("max_events"));
  }
}

// --- Append's all-or-nothing ------------------------------------------------------------------

TEST_P(StoreTest, AnEventForAnUnknownRunFailsTheWholeBatch) {
  const v1::Job job = NewJob();
  const v1::Job other = NewJob("other");
  const int64_t run = job.runs(0).id();
  auto result = store_->Append(std::vector<Event>{
      JobStartedEvent{job.id(), T(1)}, RunStartedEvent{run, T(1)}, Step(run, 0, 0.5f),
      Step(run, 1, 0.4f), JobStartedEvent{other.id(), T(1)}, Step(999999, 0, 0.5f)});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(result.status().message(), "run 999999 not found");

  for (const v1::Job& j : {job, other}) {
    EXPECT_EQ(*store_->Cursor(j.id()), 0u);
    auto now = wire::GetJob(*store_, j.id());
    ASSERT_TRUE(now.ok());
    EXPECT_EQ(now->state(), v1::JOB_STATE_QUEUED);
    EXPECT_FALSE(now->has_started_at());
    EXPECT_EQ(now->runs(0).state(), v1::RUN_STATE_QUEUED);
    EXPECT_EQ(now->runs(0).steps_done(), 0);
  }
  auto trajectory = store_->GetTrajectory(run);
  ASSERT_TRUE(trajectory.ok());
  EXPECT_THAT(trajectory->steps, IsEmpty());
  auto update = wire::ReadUpdate(*store_, job.id(), 0, 100);
  ASSERT_TRUE(update.ok());
  EXPECT_EQ(update->cursor(), 0u);
  EXPECT_EQ(update->runs_started_size(), 0);

  // The same batch without the bad event goes through.
  auto cursors = store_->Append(std::vector<Event>{
      JobStartedEvent{job.id(), T(1)}, RunStartedEvent{run, T(1)}, Step(run, 0, 0.5f),
      Step(run, 1, 0.4f), JobStartedEvent{other.id(), T(1)}});
  ASSERT_TRUE(cursors.ok()) << cursors.status();
  ASSERT_EQ(cursors->size(), 2u);
  EXPECT_EQ((*cursors)[0].job_id, job.id());
  EXPECT_EQ((*cursors)[0].cursor, 4u);
  EXPECT_EQ((*cursors)[1].job_id, other.id());
  EXPECT_EQ((*cursors)[1].cursor, 1u);
}

TEST_P(StoreTest, AppendRefusesEventsThatBreakTheRunLifecycle) {
  const v1::Job job = NewJob();
  const int64_t run = job.runs(0).id();
  const int64_t queued_run = job.runs(1).id();
  MustAppend({RunStartedEvent{run, T(1)}, Step(run, 0, 0.5f)});
  const uint64_t cursor = *store_->Cursor(job.id());

  struct Case {
    std::vector<Event> events;
    absl::StatusCode code;
    std::string message;
  };
  v1::Run not_ended = Summary(run, v1::RUN_STATE_RUNNING, 1, 1);
  const std::vector<Case> cases = {
      {{Step(run, 1, 0.4f), Step(run, 0, 0.3f)},
       absl::StatusCode::kAlreadyExists,
       "already has step 0"},
      {{Step(queued_run, 0, 0.5f)},
       absl::StatusCode::kFailedPrecondition,
       "RunStarted must come first"},
      {{Step(run, 1, 0.5f, 1.0f, kNaN)}, absl::StatusCode::kInvalidArgument, "seconds"},
      {{Step(run, -1, 0.5f)}, absl::StatusCode::kInvalidArgument, "step must be >= 0"},
      {{RunFinishedEvent{wire::RunSummaryFromProto(not_ended)}}, absl::StatusCode::kInvalidArgument,
       "must be completed"},
      {{JobFinishedEvent{job.id(), JobState::kRunning, "", T(1)}},
       absl::StatusCode::kInvalidArgument,
       "must be succeeded"},
      {{JobStartedEvent{12345, T(1)}}, absl::StatusCode::kNotFound, "job 12345 not found"},
  };
  for (const Case& c : cases) {
    auto result = store_->Append(c.events);
    ASSERT_FALSE(result.ok()) << c.message;
    EXPECT_EQ(result.status().code(), c.code) << result.status();
    EXPECT_THAT(result.status().message(), HasSubstr(c.message));
    EXPECT_EQ(*store_->Cursor(job.id()), cursor);
  }
  auto trajectory = store_->GetTrajectory(run);
  ASSERT_TRUE(trajectory.ok());
  EXPECT_THAT(trajectory->steps, ElementsAre(0));

  // After a run ends it takes no more steps; after the job ends, no more events at all.
  MustAppend({RunFinishedEvent{wire::RunSummaryFromProto(Summary(run, v1::RUN_STATE_COMPLETED, 1, 5))}});
  auto late_step = store_->Append(std::vector<Event>{Step(run, 1, 0.1f)});
  EXPECT_EQ(late_step.status().code(), absl::StatusCode::kFailedPrecondition);
  auto restart = store_->Append(std::vector<Event>{RunStartedEvent{run, T(9)}});
  EXPECT_EQ(restart.status().code(), absl::StatusCode::kFailedPrecondition);
  MustAppend({JobFinishedEvent{job.id(), JobState::kCancelled, "", T(6)}});
  auto after_end = store_->Append(std::vector<Event>{JobStartedEvent{job.id(), T(7)}});
  EXPECT_EQ(after_end.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(after_end.status().message(), HasSubstr("has finished"));
}

TEST_P(StoreTest, AnEmptyAppendChangesNothing) {
  auto cursors = store_->Append({});
  ASSERT_TRUE(cursors.ok());
  EXPECT_THAT(*cursors, IsEmpty());
}

// --- ListJobs -------------------------------------------------------------------------------

class ListJobsTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    // id order = creation order; created_at one second apart from t = 1000 s.
    const struct {
      const char* name;
      const char* owner;
      std::vector<std::string> inits;
    } jobs[] = {
        {"lab-01 baseline", "alice", {"uniform", "xavier", "kaiming"}},
        {"Lab-01 rerun", "bob", {"xavier"}},
        {"50%_done", "alice", {"kaiming"}},
        {"deep net", "carol", {"orthogonal"}},
        {"lab-01 wide", "alice", {"uniform"}},
        {"five", "bob", {"xavier"}},
        {"six", "bob", {"xavier"}},
        {"seven", "carol", {"kaiming"}},
        {"eight", "carol", {"xavier"}},
    };
    int64_t t = 1'000'000;
    for (const auto& job : jobs) {
      ids_.push_back(NewJob(job.name, job.owner, t, job.inits).id());
      t += 1000;
    }
    MustAppend({JobStartedEvent{ids_[1], T(1)}, JobStartedEvent{ids_[3], T(1)},
                JobFinishedEvent{ids_[3], JobState::kSucceeded, "", T(2)},
                JobFinishedEvent{ids_[4], JobState::kFailed, "no", T(2)}});
  }

  std::vector<int64_t> List(const v1::ListJobsRequest& request) {
    auto page = testing::ListWire(*store_, request);
    EXPECT_TRUE(page.ok()) << page.status();
    std::vector<int64_t> ids;
    if (!page.ok()) return ids;
    for (const v1::Job& job : page->jobs) ids.push_back(job.id());
    EXPECT_THAT(page->next_page_token, IsEmpty());
    return ids;
  }

  int64_t Id(int i) const { return ids_[i]; }
  std::vector<int64_t> ids_;
};

INSTANTIATE_TEST_SUITE_P(Backends, ListJobsTest,
                         ::testing::Values(Backend::kMemory, Backend::kFile), [](const auto& info) {
                           return info.param == Backend::kMemory ? "Memory" : "File";
                         });

TEST_P(ListJobsTest, NoFilterListsEverythingNewestFirstWithRuns) {
  auto page = testing::ListWire(*store_, v1::ListJobsRequest());
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->jobs.size(), 9u);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(page->jobs[i].id(), Id(8 - i));
  EXPECT_EQ(page->jobs[8].runs_size(), 3);
  EXPECT_EQ(page->jobs[8].spec().runs(2).init(), "kaiming");
  EXPECT_THAT(page->next_page_token, IsEmpty());
}

TEST_P(ListJobsTest, Filters) {
  v1::ListJobsRequest request;
  request.set_owner("alice");
  EXPECT_THAT(List(request), ElementsAre(Id(4), Id(2), Id(0)));

  request.Clear();
  request.add_states(v1::JOB_STATE_RUNNING);
  EXPECT_THAT(List(request), ElementsAre(Id(1)));
  request.add_states(v1::JOB_STATE_SUCCEEDED);
  request.add_states(v1::JOB_STATE_FAILED);
  EXPECT_THAT(List(request), ElementsAre(Id(4), Id(3), Id(1)));

  request.Clear();
  request.set_init("kaiming");
  EXPECT_THAT(List(request), ElementsAre(Id(7), Id(2), Id(0)));

  request.Clear();
  request.set_name_contains("lab-01");  // case-sensitive: not "Lab-01 rerun"
  EXPECT_THAT(List(request), ElementsAre(Id(4), Id(0)));
  request.set_name_contains("%_");  // LIKE's wildcards are plain text here
  EXPECT_THAT(List(request), ElementsAre(Id(2)));
  request.set_name_contains("'; DROP TABLE jobs; --");
  EXPECT_THAT(List(request), IsEmpty());

  request.Clear();  // created_at: job i at 1000 + i seconds; after is inclusive, before is not
  request.mutable_created_after()->set_seconds(1002);
  request.mutable_created_before()->set_seconds(1004);
  EXPECT_THAT(List(request), ElementsAre(Id(3), Id(2)));
  request.mutable_created_after()->set_nanos(1);  // just after job 2
  EXPECT_THAT(List(request), ElementsAre(Id(3)));
  request.mutable_created_before()->set_nanos(1);  // just after job 4
  EXPECT_THAT(List(request), ElementsAre(Id(4), Id(3)));

  // A present but zero Timestamp (what touching mutable_created_before() leaves) is no bound.
  request.Clear();
  request.mutable_created_after();
  request.mutable_created_before();
  EXPECT_EQ(List(request).size(), ids_.size());

  request.Clear();
  request.set_owner("alice");
  request.set_init("uniform");
  request.add_states(v1::JOB_STATE_QUEUED);
  EXPECT_THAT(List(request), ElementsAre(Id(0)));
}

TEST_P(ListJobsTest, PagesCoverEverythingOnceNewestFirst) {
  v1::ListJobsRequest request;
  request.set_page_size(3);
  std::vector<int64_t> seen;
  int pages = 0;
  do {
    auto page = testing::ListWire(*store_, request);
    ASSERT_TRUE(page.ok()) << page.status();
    ++pages;
    EXPECT_EQ(page->jobs.size(), 3u);
    for (const v1::Job& job : page->jobs) seen.push_back(job.id());
    EXPECT_EQ(page->next_page_token.empty(), pages == 3);
    request.set_page_token(page->next_page_token);
  } while (!request.page_token().empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(seen, ElementsAreArray(std::vector<int64_t>(ids_.rbegin(), ids_.rend())));

  // With a filter: alice's three jobs in pages of two.
  request.Clear();
  request.set_owner("alice");
  request.set_page_size(2);
  auto first = testing::ListWire(*store_, request);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->jobs.size(), 2u);
  ASSERT_FALSE(first->next_page_token.empty());
  request.set_page_token(first->next_page_token);
  auto second = testing::ListWire(*store_, request);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->jobs.size(), 1u);
  EXPECT_EQ(second->jobs[0].id(), Id(0));
  EXPECT_THAT(second->next_page_token, IsEmpty());
}

TEST_P(ListJobsTest, ThePageSizeDefaultsToFifty) {
  for (int i = 0; i < 50; ++i) NewJob(absl::StrCat("extra ", i));
  auto page = testing::ListWire(*store_, v1::ListJobsRequest());
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->jobs.size(), 50u);
  EXPECT_FALSE(page->next_page_token.empty());
  v1::ListJobsRequest request;
  request.set_page_size(1000);
  page = testing::ListWire(*store_, request);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->jobs.size(), 59u);
}

TEST_P(ListJobsTest, BadPageSizesTokensAndStatesAreInvalidArguments) {
  for (int size : {-1, 1001, 1 << 30}) {
    v1::ListJobsRequest request;
    request.set_page_size(size);
    auto page = testing::ListWire(*store_, request);
    EXPECT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument) << size;
    EXPECT_THAT(page.status().message(), HasSubstr("page_size must be between 1 and 1000"));
  }
  for (const char* token : {"garbage", "j", "j0", "j-5", "jabc", "j12x", " j5", "j+5", "5",
                            "j99999999999999999999", "J5"}) {
    v1::ListJobsRequest request;
    request.set_page_token(token);
    auto page = testing::ListWire(*store_, request);
    EXPECT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument) << token;
    EXPECT_THAT(page.status().message(), HasSubstr("page_token"));
  }
  v1::ListJobsRequest request;
  request.add_states(v1::JOB_STATE_UNSPECIFIED);
  EXPECT_THAT(testing::ListWire(*store_, request).status().message(), HasSubstr("states[0]"));
  request.set_states(0, static_cast<v1::JobState>(99));
  EXPECT_EQ(testing::ListWire(*store_, request).status().code(), absl::StatusCode::kInvalidArgument);
}

// --- Artifacts ------------------------------------------------------------------------------

TEST_P(StoreTest, ArtifactsRoundTripWithTheirSha256) {
  const v1::Job job = NewJob();
  ASSERT_TRUE(store_->PutArtifact(job.id(), {"README.md", "text/markdown", "abc", ""}).ok());
  auto readme = store_->GetArtifact(job.id(), "README.md");
  ASSERT_TRUE(readme.ok()) << readme.status();
  EXPECT_EQ(readme->name, "README.md");
  EXPECT_EQ(readme->content_type, "text/markdown");
  EXPECT_EQ(readme->data, "abc");
  EXPECT_EQ(readme->sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

  // Binary data with NULs, and an empty file (whose SHA-256 is well known too).
  const std::string png("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
  ASSERT_TRUE(store_->PutArtifact(job.id(), {"loss_curves.png", "image/png", png, ""}).ok());
  ASSERT_TRUE(store_->PutArtifact(job.id(), {"empty.txt", "text/plain", "", ""}).ok());
  EXPECT_EQ(store_->GetArtifact(job.id(), "loss_curves.png")->data, png);
  auto empty = store_->GetArtifact(job.id(), "empty.txt");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->data, "");
  EXPECT_EQ(empty->sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // Sizes without the data, NULs counted; NotFound as GetArtifact's.
  EXPECT_EQ(store_->ArtifactSize(job.id(), "loss_curves.png").value_or(-1), 16);
  EXPECT_EQ(store_->ArtifactSize(job.id(), "empty.txt").value_or(-1), 0);
  EXPECT_EQ(store_->ArtifactSize(job.id(), "README.md").value_or(-1), 3);
  EXPECT_EQ(store_->ArtifactSize(job.id(), "nope.txt").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ArtifactSize(job.id() + 1000, "README.md").status().code(),
            absl::StatusCode::kNotFound);

  // A caller's hash is checked (either case), and a wrong one refused.
  EXPECT_TRUE(store_
                  ->PutArtifact(job.id(), {"abc.txt", "text/plain", "abc",
                                           "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF"
                                           "61F20015AD"})
                  .ok());
  absl::Status wrong = store_->PutArtifact(
      job.id(), {"bad.txt", "text/plain", "abd",
                 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"});
  EXPECT_EQ(wrong.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong.message(), HasSubstr("does not match"));

  // Replacing a file leaves the others as they were.
  ASSERT_TRUE(store_->PutArtifact(job.id(), {"README.md", "text/markdown", "new", ""}).ok());
  EXPECT_EQ(store_->GetArtifact(job.id(), "README.md")->data, "new");
  EXPECT_EQ(store_->GetArtifact(job.id(), "README.md")->content_type, "text/markdown");
  for (const char* name : {"loss_curves.png", "empty.txt", "abc.txt"}) {
    EXPECT_TRUE(store_->GetArtifact(job.id(), name).ok()) << name;
  }

  auto missing = store_->GetArtifact(job.id(), "bundle.zip");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("bundle.zip"));
  EXPECT_THAT(missing.status().message(), HasSubstr(absl::StrCat("job ", job.id())));
  EXPECT_EQ(store_->PutArtifact(999, {"x", "text/plain", "x", ""}).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetArtifact(999, "README.md").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->PutArtifact(job.id(), {"", "text/plain", "x", ""}).code(),
            absl::StatusCode::kInvalidArgument);
  auto other = NewJob("other");
  EXPECT_EQ(store_->GetArtifact(other.id(), "README.md").status().code(),
            absl::StatusCode::kNotFound);
}

// --- Concurrency ----------------------------------------------------------------------------

TEST_P(StoreTest, ReadersSeeConsistentSnapshotsWhileAWriterAppends) {
  const v1::Job job = NewJob("busy", "ada", 1, {"uniform", "xavier"});
  const int64_t runs[] = {job.runs(0).id(), job.runs(1).id()};
  constexpr int kStepsPerRun = 600;

  std::atomic<bool> writer_done{false};
  std::thread writer([&] {
    EXPECT_TRUE(store_
                    ->Append(std::vector<Event>{JobStartedEvent{job.id(), T(1)},
                                                RunStartedEvent{runs[0], T(1)},
                                                RunStartedEvent{runs[1], T(1)}})
                    .ok());
    for (int step = 0; step < kStepsPerRun; step += 10) {
      std::vector<Event> batch;
      for (int s = step; s < step + 10; ++s) {
        for (int64_t run : runs) batch.push_back(Step(run, s, 1.0f / (s + 1)));
      }
      auto result = store_->Append(batch);
      EXPECT_TRUE(result.ok()) << result.status();
    }
    for (int64_t run : runs) {
      EXPECT_TRUE(store_
                      ->Append(std::vector<Event>{
                          RunFinishedEvent{wire::RunSummaryFromProto(Summary(run, v1::RUN_STATE_COMPLETED, kStepsPerRun, 2))}})
                      .ok());
    }
    EXPECT_TRUE(store_
                    ->Append(std::vector<Event>{
                        JobFinishedEvent{job.id(), JobState::kSucceeded, "", T(3)}})
                    .ok());
    writer_done = true;
  });

  auto reader = [&](int max_events, std::map<std::pair<int64_t, int32_t>, int>* seen, int* errors) {
    uint64_t cursor = 0;
    bool finished = false;
    int iteration = 0;
    while (!finished) {
      // Read before the update: a writer that ends between the read and this check would
      // make an update taken from the older snapshot look stalled.
      const bool writer_was_done = writer_done;
      auto update = wire::ReadUpdate(*store_, job.id(), cursor, max_events);
      if (!update.ok()) {
        ++*errors;
        ADD_FAILURE() << update.status();
        return;
      }
      if (update->cursor() < cursor) {
        ++*errors;
        ADD_FAILURE() << "cursor went back from " << cursor << " to " << update->cursor();
      }
      // Once the writer is done, a read that brings nothing new means nothing more will come:
      // stop rather than wait forever for a job_finished that was lost.
      const bool stalled = writer_was_done && update->cursor() == cursor;
      cursor = update->cursor();
      for (const auto& group : update->steps()) {
        for (int i = 0; i < group.losses_size(); ++i) {
          ++(*seen)[{group.run_id(), group.first_step() + i}];
        }
      }
      finished = update->has_job_finished();
      if (stalled && !finished) {
        ++*errors;
        ADD_FAILURE() << "no job_finished after the last event, cursor " << cursor;
        return;
      }
      if (++iteration % 8 != 0) continue;
      // Other reads interleaved: each a consistent snapshot.
      auto trajectory = store_->GetTrajectory(runs[1]);
      if (!trajectory.ok()) {
        ++*errors;
        ADD_FAILURE() << trajectory.status();
        return;
      }
      for (size_t i = 0; i < trajectory->steps.size(); ++i) {
        if (trajectory->steps[i] != static_cast<int32_t>(i)) {
          ++*errors;
          ADD_FAILURE() << "trajectory has a gap at " << i;
          break;
        }
      }
      if (!wire::GetJob(*store_, job.id()).ok() || !testing::ListWire(*store_, v1::ListJobsRequest()).ok()) {
        ++*errors;
      }
    }
  };

  constexpr int kReaders = 3;
  std::vector<std::map<std::pair<int64_t, int32_t>, int>> seen(kReaders);
  std::vector<int> errors(kReaders, 0);
  std::vector<std::thread> readers;
  const int widths[kReaders] = {1, 13, 1000};
  for (int i = 0; i < kReaders; ++i) {
    readers.emplace_back(reader, widths[i], &seen[i], &errors[i]);
  }
  writer.join();
  for (std::thread& t : readers) t.join();
  EXPECT_TRUE(writer_done);
  for (int i = 0; i < kReaders; ++i) {
    EXPECT_EQ(errors[i], 0) << "reader " << i;
    EXPECT_EQ(seen[i].size(), 2u * kStepsPerRun) << "reader " << i;
    for (const auto& [key, count] : seen[i]) {
      ASSERT_EQ(count, 1) << "reader " << i << " run " << key.first << " step " << key.second;
    }
  }
}

TEST(MemoryStoreTest, EachMemoryStoreIsItsOwnDatabase) {
  auto a = Store::Open(":memory:");
  auto b = Store::Open(":memory:");
  ASSERT_TRUE(a.ok() && b.ok());
  auto job = (*a)->CreateJob(*wire::NewJobFromSpec(ResolvedSpec()), "ada", T(1));
  ASSERT_TRUE(job.ok());
  EXPECT_TRUE((*a)->GetJob(job->id).ok());
  EXPECT_EQ((*b)->GetJob(job->id).status().code(), absl::StatusCode::kNotFound);
}

// --- Plain SQL --------------------------------------------------------------------------------

// The database holds every user's jobs and hashed tokens: it is created for its owner only,
// with its -wal and -shm files, whatever the umask.
TEST(FileStoreTest, TheDatabaseAndItsWalFilesAreCreatedOwnerOnly) {
  TempDir dir;
  const std::string path = dir.File("ablate.db");
  const mode_t old_umask = ::umask(0);
  auto store = Store::Open(path);
  ::umask(old_umask);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE(wire::CreateJob(**store, ResolvedSpec(), "ada", T(1000)).ok());
  for (const std::string& file : {path, path + "-wal", path + "-shm"}) {
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0) << file;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << file;
  }
}

TEST(FileStoreTest, TheDatabaseAnswersPlainSql) {
  TempDir dir;
  const std::string path = dir.File("ablate.db");
  auto opened = Store::Open(path);
  ASSERT_TRUE(opened.ok()) << opened.status();
  Store& store = **opened;
  auto job = wire::CreateJob(store, ResolvedSpec(), "ada", T(1'700'000'000'000));
  ASSERT_TRUE(job.ok());
  const int64_t run = job->runs(0).id();
  std::vector<Event> events = {RunStartedEvent{run, T(1)}};
  double finite_sum = 0;
  int finite_count = 0;
  for (int i = 0; i < static_cast<int>(kAwkwardFloats.size()); ++i) {
    events.push_back(Step(run, i, kAwkwardFloats[i]));
    if (std::isfinite(kAwkwardFloats[i])) {
      finite_sum += kAwkwardFloats[i];
      ++finite_count;
    }
  }
  ASSERT_TRUE(store.Append(events).ok());

  // While the store is open, as a student would with the sqlite3 shell.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  auto query = [db](const char* sql, int64_t param) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_bind_int64(stmt, 1, param);
    EXPECT_EQ(sqlite3_step(stmt), SQLITE_ROW) << sql;
    return stmt;  // the caller reads column 0 and finalizes
  };
  sqlite3_stmt* stmt = query("SELECT avg(loss), count(loss) FROM steps WHERE run_id = ?", run);
  EXPECT_NEAR(sqlite3_column_double(stmt, 0), finite_sum / finite_count,
              1e-12 * std::abs(finite_sum / finite_count));
  EXPECT_EQ(sqlite3_column_int(stmt, 1), finite_count);
  sqlite3_finalize(stmt);
  stmt = query("SELECT count(*) FROM steps WHERE run_id = ? AND loss_class = 'nan'", run);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), 2);
  sqlite3_finalize(stmt);
  stmt = query("SELECT loss FROM steps WHERE run_id = ? AND step = 0", run);
  EXPECT_EQ(Bits(sqlite3_column_double(stmt, 0)), Bits(-0.0));
  sqlite3_finalize(stmt);
  stmt = query("SELECT json_extract(spec, '$.training.steps') FROM jobs WHERE id = ?", job->id());
  EXPECT_EQ(sqlite3_column_int(stmt, 0), 1000);
  sqlite3_finalize(stmt);
  stmt = query(
      "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', created_at / 1000.0, 'unixepoch') "
      "FROM jobs WHERE id = ?",
      job->id());
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)),
               "2023-11-14T22:13:20.000Z");
  sqlite3_finalize(stmt);
  stmt = query("SELECT state || '/' || init FROM runs WHERE id = ?", run);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "running/uniform");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

}  // namespace
}  // namespace ablate::store
