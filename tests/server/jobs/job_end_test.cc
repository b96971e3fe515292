// How a job ends: as its runs ended, as the store holds them. An event the store refuses
// fails its run (never silently dropped), a job never ends while a run has not, and a run's
// failure recorded before a restart fails its job after it.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/service/wire.h"
#include "server/jobs/job_manager.h"
#include "server/jobs/spec.h"
#include "server/store/store.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/job_specs.h"
#include "tests/support/job_stack.h"
#include "tests/support/temp_dir.h"

namespace ablate::jobs {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Refuses, for good, every batch holding an event `refuse` picks, as SQLite refuses a row that
// breaks a CHECK constraint.
class RefusingStore : public test_support::ForwardingStore {
 public:
  using Picker = std::function<bool(const store::Event&)>;
  RefusingStore(std::unique_ptr<store::Store> inner, Picker refuse)
      : ForwardingStore(std::move(inner)), refuse_(std::move(refuse)) {}

  absl::StatusOr<std::vector<store::JobCursor>> Append(
      std::span<const store::Event> events) override {
    for (const store::Event& event : events) {
      if (refuse_(event)) {
        return absl::FailedPreconditionError("CHECK constraint failed: json_valid(init_stats)");
      }
    }
    return inner().Append(events);
  }

 private:
  Picker refuse_;
};

// The job once it has ended (fails the test after 60 s).
v1::Job WaitForEnd(store::Store& store, int64_t job_id) {
  for (int i = 0; i < 1200; ++i) {
    absl::StatusOr<v1::Job> job = wire::GetJob(store, job_id);
    EXPECT_TRUE(job.ok()) << job.status();
    if (!job.ok()) return {};
    if (job->state() == v1::JOB_STATE_SUCCEEDED || job->state() == v1::JOB_STATE_FAILED ||
        job->state() == v1::JOB_STATE_CANCELLED) {
      return *job;
    }
    std::this_thread::sleep_for(50ms);
  }
  ADD_FAILURE() << "job " << job_id << " did not end";
  return {};
}

v1::JobSpec TwoRuns(int steps) {
  v1::JobSpec spec = test_support::TinySpec(steps);
  spec.add_runs()->set_init("xavier");
  return *ResolveSpec(spec);
}

// A run's end is stored to the millisecond, as its start is: with whole seconds (protobuf's
// TimeUtil::GetCurrentTime) a run of a few milliseconds ended before it started.
TEST(JobEndTest, ARunEndsAfterItStartsAndBeforeItsJobEnds) {
  std::unique_ptr<store::Store> store = *store::Store::Open(":memory:");
  test_support::JobStack stack(*store, /*workers=*/2);
  absl::StatusOr<v1::Job> job = stack.jobs->Submit(TwoRuns(5), "ada");
  ASSERT_TRUE(job.ok()) << job.status();
  const v1::Job ended = WaitForEnd(*store, job->id());
  ASSERT_EQ(ended.runs_size(), 2);
  auto millis = [](const google::protobuf::Timestamp& t) {
    return t.seconds() * 1000 + t.nanos() / 1000000;
  };
  for (const v1::Run& run : ended.runs()) {
    EXPECT_GE(millis(run.finished_at()), millis(run.started_at())) << run.ShortDebugString();
    EXPECT_LE(millis(run.finished_at()), millis(ended.finished_at())) << run.ShortDebugString();
  }
}

TEST(JobEndTest, ARunWhoseEndTheStoreRefusesFailsAndSoDoesItsJob) {
  RefusingStore store(*store::Store::Open(":memory:"), [](const store::Event& event) {
    const auto* end = std::get_if<store::RunFinishedEvent>(&event);
    return end != nullptr && end->summary.index == 1 &&
           end->summary.state != store::RunState::kFailed;
  });
  test_support::JobStack stack(store, /*workers=*/2);
  absl::StatusOr<v1::Job> job = stack.jobs->Submit(TwoRuns(30), "ada");
  ASSERT_TRUE(job.ok()) << job.status();
  const v1::Job ended = WaitForEnd(store, job->id());
  ASSERT_EQ(ended.runs_size(), 2);
  EXPECT_EQ(ended.runs(0).state(), v1::RUN_STATE_COMPLETED);
  EXPECT_EQ(ended.runs(1).state(), v1::RUN_STATE_FAILED);
  EXPECT_THAT(ended.runs(1).outcome(), StartsWith("the database refused its end: "));
  EXPECT_THAT(ended.runs(1).outcome(), HasSubstr("json_valid(init_stats)"));
  EXPECT_EQ(ended.runs(1).steps_done(), 30) << "the recorded steps stay";
  EXPECT_EQ(ended.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(ended.error(), "run 1: " + ended.runs(1).outcome());
}

TEST(JobEndTest, ARefusedStepFailsItsRunAndKeepsItsTrajectoryAPrefix) {
  RefusingStore store(*store::Store::Open(":memory:"), [](const store::Event& event) {
    const auto* step = std::get_if<store::StepEvent>(&event);
    return step != nullptr && step->step == 7;
  });
  test_support::JobStack stack(store, /*workers=*/1);
  absl::StatusOr<v1::Job> job = stack.jobs->Submit(*ResolveSpec(test_support::TinySpec(40)), "ada");
  ASSERT_TRUE(job.ok()) << job.status();
  const v1::Job ended = WaitForEnd(store, job->id());
  ASSERT_EQ(ended.runs_size(), 1);
  EXPECT_EQ(ended.runs(0).state(), v1::RUN_STATE_FAILED);
  EXPECT_THAT(ended.runs(0).outcome(), StartsWith("the database refused step 7: "));
  absl::StatusOr<store::Trajectory> trajectory = store.GetTrajectory(ended.runs(0).id());
  ASSERT_TRUE(trajectory.ok()) << trajectory.status();
  EXPECT_THAT(trajectory->steps, ::testing::ElementsAre(0, 1, 2, 3, 4, 5, 6));
  EXPECT_TRUE(trajectory->evals.empty() || trajectory->evals.back().step < 7);
  EXPECT_EQ(ended.state(), v1::JOB_STATE_FAILED);
  EXPECT_THAT(ended.error(), StartsWith("run 0: the database refused step 7"));
}

// The store refuses a run's end and then its failure too: the job manager still does not end
// the job with the run unended.
TEST(JobEndTest, ARunWhoseEveryEndIsRefusedStillEndsBeforeItsJob) {
  RefusingStore store(*store::Store::Open(":memory:"), [](const store::Event& event) {
    const auto* end = std::get_if<store::RunFinishedEvent>(&event);
    // Its trained end and the writer's failure; the job manager's is let through.
    return end != nullptr && end->summary.outcome != "its end was never recorded";
  });
  test_support::JobStack stack(store, /*workers=*/1);
  absl::StatusOr<v1::Job> job = stack.jobs->Submit(*ResolveSpec(test_support::TinySpec(10)), "ada");
  ASSERT_TRUE(job.ok()) << job.status();
  const v1::Job ended = WaitForEnd(store, job->id());
  EXPECT_EQ(ended.runs(0).state(), v1::RUN_STATE_FAILED);
  EXPECT_EQ(ended.runs(0).outcome(), "its end was never recorded");
  EXPECT_EQ(ended.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(ended.error(), "run 0: its end was never recorded");
}

// A run failed and that was committed; the server died before the job ended. After the
// restart the other run trains, and the job ends failed with the first run's reason: the
// failure is read from the store, not remembered.
TEST(JobEndTest, ARunFailureCommittedBeforeACrashFailsTheJobAfterIt) {
  test_support::TempDir dir("ablate_job_end");
  const std::string path = dir.File("ablate.db");
  int64_t job_id = 0;
  {
    std::unique_ptr<store::Store> store = *store::Store::Open(path);
    absl::StatusOr<v1::Job> job = wire::CreateJob(*store, TwoRuns(20), "ada", absl::Now());
    ASSERT_TRUE(job.ok()) << job.status();
    job_id = job->id();
    store::RunRecord failed;
    failed.id = job->runs(0).id();
    failed.state = store::RunState::kFailed;
    failed.outcome = "std::bad_alloc";
    const std::vector<store::Event> before_the_crash = {
        store::JobStartedEvent{job_id, absl::Now()},
        store::RunStartedEvent{job->runs(0).id(), absl::Now()},
        store::RunFinishedEvent{failed},
    };
    ASSERT_TRUE(store->Append(before_the_crash).ok());
  }  // the process "dies": nothing of the job is left in memory
  std::unique_ptr<store::Store> store = *store::Store::Open(path);
  test_support::JobStack stack(*store, /*workers=*/1);
  ASSERT_TRUE(stack.jobs->Recover().ok());
  const v1::Job ended = WaitForEnd(*store, job_id);
  EXPECT_EQ(ended.runs(1).state(), v1::RUN_STATE_COMPLETED);
  EXPECT_EQ(ended.state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(ended.error(), "run 0: std::bad_alloc");
}

// A class's jobs end side by side: with two finishing threads, a job whose files take long to
// build does not hold back the files of a job that ended after it. (With one thread the second
// job's end would wait in the queue behind the first, whose hook waits for it: the first then
// fails after 20 s.)
TEST(JobEndTest, AJobsFilesDoNotWaitForAnEarlierJobsFiles) {
  std::unique_ptr<store::Store> store = *store::Store::Open(":memory:");
  absl::Notification first_building, second_built;
  std::atomic<int> calls{0};
  test_support::JobStack stack(
      *store, /*workers=*/2,
      [&](int64_t) {
        if (calls++ > 0) {
          second_built.Notify();
          return absl::OkStatus();
        }
        first_building.Notify();
        return second_built.WaitForNotificationWithTimeout(absl::Seconds(20))
                   ? absl::OkStatus()
                   : absl::DeadlineExceededError("the second job's files were never built");
      },
      {}, /*finishing_threads=*/2);
  absl::StatusOr<v1::Job> first = stack.jobs->Submit(*ResolveSpec(test_support::TinySpec(5)), "ada");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first_building.WaitForNotificationWithTimeout(absl::Seconds(60)));
  absl::StatusOr<v1::Job> second =
      stack.jobs->Submit(*ResolveSpec(test_support::TinySpec(5)), "grace");
  ASSERT_TRUE(second.ok()) << second.status();
  const v1::Job second_ended = WaitForEnd(*store, second->id());
  const v1::Job first_ended = WaitForEnd(*store, first->id());
  EXPECT_EQ(second_ended.state(), v1::JOB_STATE_SUCCEEDED) << second_ended.error();
  EXPECT_EQ(first_ended.state(), v1::JOB_STATE_SUCCEEDED) << first_ended.error();
}

// Each finishing thread prepares (the server loads its figures' fonts there) before it takes any
// job's end, however soon a job ends: here both jobs end while the threads are still preparing,
// and each job's end must run on a thread whose preparation is over.
TEST(JobEndTest, EachFinishingThreadPreparesBeforeItTakesAJobsEnd) {
  std::unique_ptr<store::Store> store = *store::Store::Open(":memory:");
  absl::Mutex mutex;
  std::set<std::thread::id> prepared;  // guarded by mutex
  test_support::JobStack stack(
      *store, /*workers=*/2,
      [&](int64_t job_id) {
        absl::MutexLock lock(&mutex);
        return prepared.contains(std::this_thread::get_id())
                   ? absl::OkStatus()
                   : absl::FailedPreconditionError(
                         absl::StrCat("job ", job_id, " ended on a thread not prepared"));
      },
      {}, /*finishing_threads=*/2, [&] {
        std::this_thread::sleep_for(1s);  // longer than a tiny job takes to train
        absl::MutexLock lock(&mutex);
        prepared.insert(std::this_thread::get_id());
      });
  const v1::JobSpec spec = *ResolveSpec(test_support::TinySpec(5));
  absl::StatusOr<v1::Job> first = stack.jobs->Submit(spec, "ada");
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<v1::Job> second = stack.jobs->Submit(spec, "grace");
  ASSERT_TRUE(second.ok()) << second.status();
  for (int64_t id : {first->id(), second->id()}) {
    const v1::Job ended = WaitForEnd(*store, id);
    EXPECT_EQ(ended.state(), v1::JOB_STATE_SUCCEEDED) << ended.error();
  }
  // Both threads prepared (the second may still be finishing its preparation).
  const auto both_prepared = [&] {
    absl::MutexLock lock(&mutex);
    return prepared.size() == 2;
  };
  for (int i = 0; i < 200 && !both_prepared(); ++i) std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(both_prepared());
}

// Ended jobs wait their turn as runs do: while one job's files are built, ada's three more jobs
// end and then grace's one; grace's files come next, not after all of ada's.
TEST(JobEndTest, EndedJobsTakeTurnsByOwner) {
  std::unique_ptr<store::Store> store = *store::Store::Open(":memory:");
  absl::Notification first_building, release;
  absl::Mutex mutex;
  std::vector<int64_t> built;  // job ids, in the order their files were built
  test_support::JobStack stack(*store, /*workers=*/2, [&](int64_t job_id) {
    {
      absl::MutexLock lock(&mutex);
      built.push_back(job_id);
      if (built.size() > 1) return absl::OkStatus();
    }
    first_building.Notify();
    release.WaitForNotificationWithTimeout(absl::Seconds(60));
    return absl::OkStatus();
  });
  const v1::JobSpec spec = *ResolveSpec(test_support::TinySpec(5));
  absl::StatusOr<v1::Job> first = stack.jobs->Submit(spec, "ada");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first_building.WaitForNotificationWithTimeout(absl::Seconds(60)));
  std::vector<int64_t> adas;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<v1::Job> job = stack.jobs->Submit(spec, "ada");
    ASSERT_TRUE(job.ok()) << job.status();
    adas.push_back(job->id());
  }
  // Grace's job ends last: after every one of ada's has trained.
  auto trained = [&](int64_t job_id) {
    absl::StatusOr<v1::Job> job = wire::GetJob(*store, job_id);
    return job.ok() && job->runs(0).state() == v1::RUN_STATE_COMPLETED;
  };
  for (int64_t id : adas) {
    for (int i = 0; i < 1200 && !trained(id); ++i) std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(trained(id)) << "job " << id;
  }
  absl::StatusOr<v1::Job> graces = stack.jobs->Submit(spec, "grace");
  ASSERT_TRUE(graces.ok()) << graces.status();
  for (int i = 0; i < 1200 && !trained(graces->id()); ++i) std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(trained(graces->id()));
  // A stored run end is posted just before its job is queued to finish.
  std::this_thread::sleep_for(200ms);
  release.Notify();
  WaitForEnd(*store, graces->id());
  for (int64_t id : adas) WaitForEnd(*store, id);
  absl::MutexLock lock(&mutex);
  ASSERT_EQ(built.size(), 5u);
  EXPECT_EQ(built[0], first->id());
  EXPECT_EQ(built[1], graces->id());
  // Ada's in the order they ended, which two workers decide.
  EXPECT_THAT(std::vector<int64_t>(built.begin() + 2, built.end()),
              ::testing::UnorderedElementsAreArray(adas));
}

}  // namespace
}  // namespace ablate::jobs
