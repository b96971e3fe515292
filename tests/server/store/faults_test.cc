// The store under faults an operator meets: a full disk (through OpenOptions::max_bytes, which
// fails writes exactly as a full disk does), a read-only data directory, and an online backup
// taken while the database is being written.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/backup.h"
#include "server/store/store.h"
#include "tests/server/store/test_util.h"
#include "tests/support/sqlite_files.h"

namespace ablate::store {
namespace {

using ::testing::HasSubstr;
using testing::ResolvedSpec;
using testing::Step;
using testing::T;
using testing::TempDir;
using test_support::IntegrityCheck;

// A job with one started run, ready for steps.
v1::Job StartedJob(Store& store) {
  absl::StatusOr<v1::Job> job = wire::CreateJob(store, ResolvedSpec("faults", {"kaiming"}), "ops", T(1));
  EXPECT_TRUE(job.ok()) << job.status();
  std::vector<Event> start = {JobStartedEvent{job->id(), T(2)},
                              RunStartedEvent{job->runs(0).id(), T(2)}};
  EXPECT_TRUE(store.Append(start).ok());
  return *job;
}

// Appends batches of 50 steps from `next` on until a batch fails; returns that failure.
absl::Status AppendUntilFailure(Store& store, int64_t run_id, int& next, int max_steps) {
  while (next < max_steps) {
    std::vector<Event> batch;
    for (int i = 0; i < 50; ++i) batch.push_back(Step(run_id, next + i, 1.0f / (next + i + 1)));
    absl::StatusOr<std::vector<JobCursor>> appended = store.Append(batch);
    if (!appended.ok()) return appended.status();
    next += 50;
  }
  return absl::OkStatus();
}

TEST(StoreFaultsTest, FullDatabaseFailsWritesAsResourceExhaustedAndKeepsEveryCommit) {
  TempDir dir;
  const std::string path = dir.File("ablate.db");
  int recorded = 0;
  int64_t run_id = 0;
  {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, {.max_bytes = 256 << 10});
    ASSERT_TRUE(store.ok()) << store.status();
    const v1::Job job = StartedJob(**store);
    run_id = job.runs(0).id();
    absl::Status full = AppendUntilFailure(**store, run_id, recorded, 1000000);
    EXPECT_TRUE(absl::IsResourceExhausted(full)) << full;
    EXPECT_GT(recorded, 0);

    // Nothing of the failed batch was written; every committed step reads back; reads work.
    absl::StatusOr<Trajectory> trajectory = (*store)->GetTrajectory(run_id);
    ASSERT_TRUE(trajectory.ok()) << trajectory.status();
    ASSERT_EQ(trajectory->steps.size(), static_cast<size_t>(recorded));
    for (int i = 0; i < recorded; ++i) EXPECT_EQ(trajectory->steps[i], i);
    EXPECT_TRUE(wire::GetJob(**store, job.id()).ok());
    EXPECT_TRUE(testing::ListWire(**store, {}).ok());
  }
  EXPECT_EQ(IntegrityCheck(path), "ok");

  // Without the cap (space freed) the same database takes the next steps.
  absl::StatusOr<std::unique_ptr<Store>> reopened = Store::Open(path);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  int next = recorded;
  EXPECT_TRUE(AppendUntilFailure(**reopened, run_id, next, recorded + 100).ok());
  EXPECT_EQ((*reopened)->GetTrajectory(run_id)->steps.size(), static_cast<size_t>(recorded + 100));
}

TEST(StoreFaultsTest, ReadOnlyStoreServesReadsRefusesWritesAndTouchesNothing) {
  TempDir dir;
  const std::string path = dir.File("ablate.db");
  int64_t job_id = 0;
  {
    std::unique_ptr<Store> store = *Store::Open(path);
    const v1::Job job = StartedJob(*store);
    job_id = job.id();
    std::vector<Event> steps = {Step(job.runs(0).id(), 0, 0.5f), Step(job.runs(0).id(), 1, 0.25f)};
    ASSERT_TRUE(store->Append(steps).ok());
  }
  const auto files_before = std::distance(std::filesystem::directory_iterator(dir.File("")),
                                          std::filesystem::directory_iterator());
  struct stat before;
  ASSERT_EQ(stat(path.c_str(), &before), 0);

  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path, {.read_only = true});
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<v1::Job> job = wire::GetJob(**store, job_id);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->runs(0).steps_done(), 2);
  EXPECT_EQ((*store)->GetTrajectory(job->runs(0).id())->losses.size(), 2u);
  EXPECT_EQ((*store)->CountJobs()->at(JobState::kRunning), 1);

  absl::Status refused =
      wire::CreateJob(**store, ResolvedSpec("refused", {"kaiming"}), "ops", T(5)).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  EXPECT_THAT(refused.message(), HasSubstr(path));
  std::vector<Event> step = {Step(job->runs(0).id(), 2, 0.125f)};
  EXPECT_TRUE(absl::IsFailedPrecondition((*store)->Append(step).status()));

  // No -wal or -shm file appeared and the database file is as it was.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.File("")),
                          std::filesystem::directory_iterator()),
            files_before);
  struct stat after;
  ASSERT_EQ(stat(path.c_str(), &after), 0);
  EXPECT_EQ(after.st_size, before.st_size);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
}

TEST(StoreFaultsTest, ReadOnlyOpenOfAMissingFileIsNotFound) {
  TempDir dir;
  absl::Status missing = Store::Open(dir.File("none.db"), {.read_only = true}).status();
  EXPECT_TRUE(absl::IsNotFound(missing)) << missing;
  EXPECT_FALSE(std::filesystem::exists(dir.File("none.db")));
}

TEST(StoreFaultsTest, CountJobsCountsEachState) {
  std::unique_ptr<Store> store = *Store::Open(":memory:");
  EXPECT_TRUE(store->CountJobs()->empty());
  StartedJob(*store);
  ASSERT_TRUE(wire::CreateJob(*store, ResolvedSpec("q1", {"kaiming"}), "ops", T(1)).ok());
  ASSERT_TRUE(wire::CreateJob(*store, ResolvedSpec("q2", {"kaiming"}), "ops", T(1)).ok());
  const std::map<JobState, int64_t> counts = *store->CountJobs();
  EXPECT_EQ(counts.at(JobState::kQueued), 2);
  EXPECT_EQ(counts.at(JobState::kRunning), 1);
  EXPECT_EQ(counts.size(), 2u);
}

TEST(StoreFaultsTest, BackupWhileWritingIsAConsistentCheckedSnapshot) {
  TempDir dir;
  const std::string path = dir.File("ablate.db");
  std::unique_ptr<Store> store = *Store::Open(path);
  const v1::Job job = StartedJob(*store);
  const int64_t run_id = job.runs(0).id();
  int next = 0;
  ASSERT_TRUE(AppendUntilFailure(*store, run_id, next, 2000).ok());

  // The store stays open and keeps writing while the copy is made and after it.
  const std::string copy = dir.File("backup.db");
  ASSERT_TRUE(BackupDatabase(path, copy).ok());
  ASSERT_TRUE(AppendUntilFailure(*store, run_id, next, 2500).ok());
  EXPECT_EQ(IntegrityCheck(copy), "ok");
  EXPECT_FALSE(std::filesystem::exists(copy + "-wal"));

  absl::StatusOr<std::unique_ptr<Store>> restored = Store::Open(copy);
  ASSERT_TRUE(restored.ok()) << restored.status();
  absl::StatusOr<Trajectory> trajectory = (*restored)->GetTrajectory(run_id);
  ASSERT_TRUE(trajectory.ok()) << trajectory.status();
  EXPECT_EQ(trajectory->steps.size(), 2000u);
  EXPECT_EQ((*restored)->GetJob(job.id())->name, "faults");

  // A second backup replaces the first; a missing source is NotFound and writes nothing.
  ASSERT_TRUE(BackupDatabase(path, copy).ok());
  EXPECT_EQ((*Store::Open(copy))->GetTrajectory(run_id)->steps.size(), 2500u);
  EXPECT_TRUE(absl::IsNotFound(BackupDatabase(dir.File("none.db"), dir.File("x.db"))));
  EXPECT_FALSE(std::filesystem::exists(dir.File("x.db")));
}

}  // namespace
}  // namespace ablate::store
