// The job manager when the store fails for good: a full database (through the store's size
// cap, which fails writes exactly as a full disk does) and a read-only data directory.
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <variant>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/jobs/event_writer.h"
#include "server/jobs/job_manager.h"
#include "server/jobs/local_executor.h"
#include "server/jobs/spec.h"
#include "server/store/store.h"
#include "tests/support/forwarding_store.h"

namespace ablate::jobs {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// A tiny model trained for long: steps arrive far faster than the cap allows them to be kept.
v1::JobSpec LongTinyJob() {
  v1::JobSpec spec;
  spec.set_name("fills the disk");
  spec.mutable_model()->set_depth(2);
  spec.mutable_model()->set_width(8);
  spec.mutable_model()->set_input_dim(8);
  spec.mutable_data()->set_label_dims(4);
  spec.mutable_data()->set_train_size(64);
  spec.mutable_data()->set_val_size(16);
  spec.mutable_training()->set_batch(8);
  spec.mutable_training()->set_steps(100000);
  spec.mutable_training()->set_eval_every(100000);
  spec.add_runs()->set_init("kaiming");
  return *ResolveSpec(spec);
}

std::string IntegrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  std::string verdict = "cannot open";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      verdict = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return verdict;
}

class TempDir {
 public:
  TempDir()
      : path_(std::filesystem::temp_directory_path() /
              ("ablate_jobs_faults_" + std::to_string(getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

TEST(JobFaultsTest, FullStoreFailsTheRunningJobRefusesNewOnesAndKeepsReads) {
  TempDir dir;
  const std::string path = dir.File("ablate.db");
  int64_t job_id = 0;
  {
    std::unique_ptr<store::Store> store = *store::Store::Open(path, {.max_bytes = 512 << 10});
    CursorHub hub;
    EventWriter writer(*store, hub);
    auto executor = std::make_unique<LocalExecutor>(1);
    bool built = false;
    JobManager jobs(*store, writer, *executor, [&](int64_t) {
      built = true;
      return absl::OkStatus();
    });
    absl::StatusOr<v1::Job> job = jobs.Submit(LongTinyJob(), "ops");
    ASSERT_TRUE(job.ok()) << job.status();
    job_id = job->id();

    // The writer retries a full store for about 2 s, then the job is stopped and recorded.
    absl::StatusOr<v1::Job> now;
    for (int i = 0; i < 600; ++i) {
      now = store->GetJob(job_id);  // reads work throughout
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
    executor.reset();
  }
  EXPECT_EQ(IntegrityCheck(path), "ok");
}

// A store whose file system turns read-only under it: from the Append that would take it past
// `writable_steps` steps on, every Append fails as SQLite's SQLITE_READONLY does
// (PermissionDenied); everything else is the real store's.
class TurnsReadOnlyStore final : public test_support::ForwardingStore {
 public:
  TurnsReadOnlyStore(std::unique_ptr<store::Store> inner, int writable_steps)
      : ForwardingStore(std::move(inner)), writable_steps_(writable_steps) {}

  absl::StatusOr<std::vector<store::JobCursor>> Append(
      std::span<const store::Event> events) override {
    int steps = 0;
    for (const store::Event& e : events) steps += std::holds_alternative<store::StepEvent>(e);
    if (steps_ + steps > writable_steps_) read_only_ = true;
    if (read_only_) {
      return absl::PermissionDeniedError("COMMIT: attempt to write a readonly database");
    }
    absl::StatusOr<std::vector<store::JobCursor>> result = inner().Append(events);
    if (result.ok()) steps_ += steps;
    return result;
  }

 private:
  const int writable_steps_;
  int steps_ = 0;           // only the writer thread appends
  bool read_only_ = false;  // likewise
};

TEST(JobFaultsTest, AStoreThatTurnsReadOnlyIsTreatedLikeAFullOne) {
  TurnsReadOnlyStore store(*store::Store::Open(":memory:"), 500);
  CursorHub hub;
  EventWriter writer(store, hub);
  auto executor = std::make_unique<LocalExecutor>(1);
  JobManager jobs(store, writer, *executor, nullptr);
  absl::StatusOr<v1::Job> job = jobs.Submit(LongTinyJob(), "ops");
  ASSERT_TRUE(job.ok()) << job.status();
  for (int i = 0; i < 600 && jobs.ActiveJobs() > 0; ++i) std::this_thread::sleep_for(50ms);
  ASSERT_EQ(jobs.ActiveJobs(), 0) << "the writer kept retrying";
  EXPECT_TRUE(absl::IsPermissionDenied(writer.StoreFull())) << writer.StoreFull();
  // Its end could not be recorded either: the job stays unfinished in the store (queued or
  // running, as far as its start was recorded), and resumes at the next start.
  absl::StatusOr<v1::Job> now = store.GetJob(job->id());
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
  executor.reset();
}

TEST(JobFaultsTest, RefusedChangesRefuseSubmitAndCancel) {
  std::unique_ptr<store::Store> store = *store::Store::Open(":memory:");
  CursorHub hub;
  EventWriter writer(*store, hub);
  LocalExecutor executor(1);
  JobManager jobs(*store, writer, executor, nullptr);
  jobs.RefuseChanges(absl::FailedPreconditionError("the data directory /d is read-only"));
  absl::Status submit = jobs.Submit(LongTinyJob(), "ops").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(submit)) << submit;
  EXPECT_THAT(submit.message(), HasSubstr("/d is read-only"));
  EXPECT_TRUE(absl::IsFailedPrecondition(jobs.Cancel(1).status()));
  EXPECT_TRUE(store->ListJobs({})->jobs.empty());
}

TEST(JobFaultsTest, SubmitDuringTheDrainIsUnavailable) {
  std::unique_ptr<store::Store> store = *store::Store::Open(":memory:");
  CursorHub hub;
  EventWriter writer(*store, hub);
  LocalExecutor executor(1);
  JobManager jobs(*store, writer, executor, nullptr);
  jobs.Shutdown();
  absl::Status refused = jobs.Submit(LongTinyJob(), "ops").status();
  EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
  EXPECT_THAT(refused.message(), HasSubstr("shutting down"));
  EXPECT_TRUE(store->ListJobs({})->jobs.empty());
}

}  // namespace
}  // namespace ablate::jobs
