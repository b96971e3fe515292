// A run interrupted and resumed: from its checkpoint, replaying only the steps stored after it,
// bit-identical to a run never interrupted; from step 0 when its checkpoint is damaged or of
// another run; and over from step 0, its stored steps set aside with the reason, never
// spliced, when they were trained by another build or do not replay bit for bit.
//
// An interruption here is JobManager::Shutdown, which stops the runs without recording an
// outcome: what a crash leaves, minus the steps still in flight (the e2e chaos test kills
// the real server).
#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/checkpoint.h"
#include "core/fingerprint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/service/wire.h"
#include "server/jobs/checkpoint_files.h"
#include "server/jobs/cursor_hub.h"
#include "server/jobs/event_writer.h"
#include "server/jobs/local_executor.h"
#include "server/jobs/job_manager.h"
#include "server/store/store.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/job_specs.h"
#include "tests/support/job_stack.h"
#include "tests/support/sqlite_files.h"

namespace ablate::jobs {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using test_support::TempDir;

// The steps a test trains: long enough for a few checkpoints, short enough to take well under
// a second on this tiny model.
constexpr int kSteps = 3000;
constexpr int kCheckpointEvery = 200;  // steps

v1::JobSpec Spec() {
  v1::JobSpec spec = test_support::TinySpec(kSteps, {.depth = 3, .width = 16, .eval_every = 50, .name = {}});
  spec.clear_runs();
  spec.add_runs()->set_init("kaiming");
  spec.add_runs()->set_init("orthogonal");
  return *ResolveSpec(spec);
}

// Everything that must be equal between two trainings of one spec, as text.
std::string Training(store::Store& store, int64_t job_id) {
  absl::StatusOr<v1::Job> job = wire::GetJob(store, job_id);
  if (!job.ok()) return std::string(job.status().message());
  std::ostringstream out;
  for (const v1::Run& run : job->runs()) {
    absl::StatusOr<store::Trajectory> t = store.GetTrajectory(run.id());
    if (!t.ok()) return std::string(t.status().message());
    out << "run " << run.index() << " " << v1::RunState_Name(run.state()) << " "
        << t->steps.size() << " steps\n";
    for (size_t i = 0; i < t->steps.size(); ++i) {
      out << t->steps[i] << " " << std::bit_cast<uint32_t>(t->losses[i]) << " "
          << std::bit_cast<uint32_t>(t->weight_grad_norms[i]) << "\n";
    }
    for (const store::EvalRecord& e : t->evals) {
      out << "eval " << e.step << " " << std::bit_cast<uint32_t>(e.loss) << " "
          << std::bit_cast<uint32_t>(e.accuracy) << "\n";
    }
    for (const v1::LayerStats& s : run.final_stats()) {
      out << "final " << s.weight_variance() << " " << s.activation_mean() << "\n";
    }
  }
  return out.str();
}

// Captures the server's log lines while it lives.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string Text() {
    spdlog::default_logger()->flush();
    return out_.str();
  }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream out_;
};

absl::StatusOr<v1::Job> WaitFinished(store::Store& store, int64_t job_id) {
  for (int i = 0; i < 1200; ++i) {
    absl::StatusOr<v1::Job> job = wire::GetJob(store, job_id);
    if (!job.ok() || job->state() == v1::JOB_STATE_SUCCEEDED ||
        job->state() == v1::JOB_STATE_FAILED || job->state() == v1::JOB_STATE_CANCELLED) {
      return job;
    }
    std::this_thread::sleep_for(50ms);
  }
  return absl::DeadlineExceededError("the job did not finish within 60 s");
}

void Sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error ? error : "") << " in " << sql;
  sqlite3_free(error);
  sqlite3_close(db);
}

// A local executor whose runs stop at `hold_at` steps (in OnStep, so the step is posted) until
// Release(): a test can interrupt them at a known step.
class HoldingExecutor final : public Executor {
 public:
  HoldingExecutor(int workers, int hold_at) : inner_(workers), hold_at_(hold_at) {}
  ~HoldingExecutor() override { Release(); }

  void Execute(RunRequest request) override {
    std::lock_guard lock(mutex_);
    listeners_.push_back(std::make_unique<Holder>(*this, request.listener));
    request.listener = listeners_.back().get();
    inner_.Execute(std::move(request));
  }
  int Workers() const override { return inner_.Workers(); }
  std::optional<int> RunsAhead(std::span<const int64_t> run_ids) override {
    return inner_.RunsAhead(run_ids);
  }

  // Waits until `runs` runs are held.
  void WaitHeld(int runs) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return held_ >= runs; });
  }
  void Release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  class Holder final : public RunListener {
   public:
    Holder(HoldingExecutor& owner, RunListener* inner) : owner_(owner), inner_(inner) {}
    void OnStarted() override { inner_->OnStarted(); }
    std::string OnStarting(const std::string& fingerprint) override {
      return inner_->OnStarting(fingerprint);
    }
    void OnStep(const core::StepRecord& step) override {
      inner_->OnStep(step);
      if (step.step + 1 != owner_.hold_at_) return;
      std::unique_lock lock(owner_.mutex_);
      ++owner_.held_;
      owner_.changed_.notify_all();
      owner_.changed_.wait(lock, [&] { return owner_.released_; });
    }
    void OnEval(const core::EvalRecord& eval) override { inner_->OnEval(eval); }
    void OnCheckpoint(int step, std::string_view checkpoint) override {
      inner_->OnCheckpoint(step, checkpoint);
    }
    void OnFinished(const core::RunResult& result) override { inner_->OnFinished(result); }
    void OnFailed(const std::string& error) override { inner_->OnFailed(error); }

   private:
    HoldingExecutor& owner_;
    RunListener* const inner_;
  };

  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::unique_ptr<Holder>> listeners_;  // guarded by mutex_
  int held_ = 0;                                    // guarded by mutex_
  bool released_ = false;                           // guarded by mutex_
  LocalExecutor inner_;  // destroyed first: its workers join before the holders go
  const int hold_at_;
};

class ResumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The reference: the same spec on a store whose runs were never interrupted.
    std::unique_ptr<store::Store> fresh = *store::Store::Open(":memory:");
    {
      test_support::JobStack stack(*fresh, /*workers=*/2);
      absl::StatusOr<v1::Job> job = stack.jobs->Submit(Spec(), "ref");
      ASSERT_TRUE(job.ok()) << job.status();
      absl::StatusOr<v1::Job> done = WaitFinished(*fresh, job->id());
      ASSERT_TRUE(done.ok()) << done.status();
      ASSERT_EQ(done->state(), v1::JOB_STATE_SUCCEEDED) << done->error();
      reference_ = Training(*fresh, job->id());
    }
  }

  std::string DbPath() const { return dir_.File("ablate.db"); }
  std::filesystem::path CheckpointDir() const { return dir_.path() / "checkpoints"; }

  // Trains the spec until each run has a checkpoint saved and steps stored after it, then
  // interrupts the server. The runs are held at kHoldAt steps, so that the interruption lands
  // mid-run however fast or slow the machine. Returns the job's id.
  int64_t TrainAndInterrupt() {
    constexpr int kHoldAt = kCheckpointEvery + 60;
    std::unique_ptr<store::Store> store = *store::Store::Open(DbPath());
    std::unique_ptr<CheckpointFiles> files = *CheckpointFiles::Open(CheckpointDir());
    CursorHub hub;
    auto writer = std::make_unique<EventWriter>(*store, hub, files.get());
    auto executor = std::make_unique<HoldingExecutor>(2, kHoldAt);
    auto jobs = std::make_unique<JobManager>(
        *store, *writer, *executor, nullptr,
        Checkpointing{.files = files.get(), .policy = {.every_steps = kCheckpointEvery}});
    absl::StatusOr<v1::Job> job = jobs->Submit(Spec(), "ada");
    EXPECT_TRUE(job.ok()) << job.status();
    executor->WaitHeld(2);
    writer->Flush();
    files->Flush();
    const absl::StatusOr<v1::Job> held = wire::GetJob(*store, job->id());
    for (const v1::Run& run : held->runs()) {
      std::optional<core::CheckpointHeader> header =
          core::ReadCheckpointHeader(files->Load(run.id()), nullptr);
      EXPECT_TRUE(header.has_value()) << "run " << run.id() << " has no checkpoint";
      if (header) {
        EXPECT_EQ(header->step, kCheckpointEvery);
      }
      EXPECT_EQ(run.steps_done(), kHoldAt);
    }
    jobs->Shutdown();
    executor->Release();
    executor.reset();
    jobs.reset();
    writer.reset();
    files.reset();
    absl::StatusOr<v1::Job> left = wire::GetJob(*store, job->id());
    EXPECT_EQ(left->state(), v1::JOB_STATE_RUNNING);
    for (const v1::Run& run : left->runs()) {
      EXPECT_LT(run.steps_done(), kSteps);
      interrupted_steps_ += run.steps_done();
    }
    return job->id();
  }

  // Starts a server on the data directory again and lets it finish the job.
  v1::Job Recover(int64_t job_id, core::CheckpointPolicy policy = {.every_steps =
                                                                        kCheckpointEvery}) {
    std::unique_ptr<store::Store> store = *store::Store::Open(DbPath());
    std::unique_ptr<CheckpointFiles> files = *CheckpointFiles::Open(CheckpointDir());
    v1::Job job;
    {
      test_support::JobStack stack(*store, /*workers=*/2, nullptr,
                                   {.files = files.get(), .policy = policy});
      absl::Status recovered = stack.jobs->Recover();
      EXPECT_TRUE(recovered.ok()) << recovered;
      absl::StatusOr<v1::Job> done = WaitFinished(*store, job_id);
      EXPECT_TRUE(done.ok()) << done.status();
      job = *done;
      training_ = Training(*store, job_id);
      absl::StatusOr<v1::JobUpdate> all = wire::ReadUpdate(*store, job_id, 0, 1 << 30);
      EXPECT_TRUE(all.ok()) << all.status();
      update_ = *all;
    }
    files->Flush();
    return job;
  }

  int64_t CountRows(const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(DbPath().c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* stmt = nullptr;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      n = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return n;
  }

  TempDir dir_{"ablate_resume"};
  std::string reference_;
  std::string training_;
  v1::JobUpdate update_;
  int interrupted_steps_ = 0;
};

TEST_F(ResumeTest, AResumeFromACheckpointIsBitIdenticalToARunNeverInterrupted) {
  LogCapture log;
  const int64_t job_id = TrainAndInterrupt();
  const v1::Job job = Recover(job_id);
  ASSERT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error();
  EXPECT_TRUE(training_ == reference_);
  const std::string text = log.Text();
  EXPECT_THAT(text, HasSubstr("from a checkpoint, replaying"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("resumed at step 0")));
  EXPECT_THAT(text, HasSubstr("replayed steps matched the recorded ones bit for bit"));
  for (const v1::Run& run : job.runs()) {
    EXPECT_EQ(run.fingerprint(), core::ThisBuildFingerprint().id);
    EXPECT_EQ(run.restart_reason(), "");
  }
  EXPECT_EQ(update_.runs_restarted_size(), 0);
  // Ended runs keep no checkpoint.
  EXPECT_TRUE(std::filesystem::is_empty(CheckpointDir()));
  EXPECT_EQ(test_support::IntegrityCheck(DbPath()), "ok");
}

TEST_F(ResumeTest, ADamagedCheckpointRestartsTheReplayFromStepZero) {
  LogCapture log;
  const int64_t job_id = TrainAndInterrupt();
  for (const auto& entry : std::filesystem::directory_iterator(CheckpointDir())) {
    std::fstream file(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(100);
    file.put('\x5a');  // one byte somewhere in the header's neighbourhood
  }
  const v1::Job job = Recover(job_id);
  ASSERT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error();
  EXPECT_TRUE(training_ == reference_);
  const std::string text = log.Text();
  EXPECT_THAT(text, HasSubstr("its checkpoint is unusable"));
  EXPECT_THAT(text, HasSubstr("resumed at step 0"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("from a checkpoint, replaying")));
  EXPECT_EQ(update_.runs_restarted_size(), 0) << "a replay from step 0 sets nothing aside";
}

TEST_F(ResumeTest, AnotherRunsCheckpointIsNotApplied) {
  LogCapture log;
  const int64_t job_id = TrainAndInterrupt();
  // Each run gets the other's checkpoint: same model, other init, so another RunDigest.
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(CheckpointDir())) {
    files.push_back(entry.path());
  }
  ASSERT_EQ(files.size(), 2u);
  const std::filesystem::path swap = dir_.path() / "swap";
  std::filesystem::rename(files[0], swap);
  std::filesystem::rename(files[1], files[0]);
  std::filesystem::rename(swap, files[1]);
  const v1::Job job = Recover(job_id);
  ASSERT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error();
  EXPECT_TRUE(training_ == reference_);
  EXPECT_THAT(log.Text(), HasSubstr("its checkpoint is of other settings"));
}

TEST_F(ResumeTest, StepsOfAnotherBuildAreSetAsideNeverSpliced) {
  LogCapture log;
  const int64_t job_id = TrainAndInterrupt();
  // The data directory moved to a server of another build: its runs' steps say so.
  Sql(DbPath(), "UPDATE runs SET fingerprint = 'fp1-00000000000000aa'");
  const int64_t stored = CountRows("SELECT count(*) FROM steps");
  ASSERT_GT(stored, 0);
  const v1::Job job = Recover(job_id);
  ASSERT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error();
  EXPECT_TRUE(training_ == reference_) << "the restart trains from step 0, all steps new";
  EXPECT_EQ(CountRows("SELECT count(*) FROM set_aside_steps"), stored);
  EXPECT_EQ(CountRows("SELECT count(*) FROM run_restarts"), 2);
  EXPECT_EQ(CountRows("SELECT sum(steps_set_aside) FROM run_restarts"), stored);
  ASSERT_EQ(update_.runs_restarted_size(), 2);
  for (const v1::Run& run : job.runs()) {
    EXPECT_THAT(run.restart_reason(), HasSubstr("fp1-00000000000000aa"));
    EXPECT_THAT(run.restart_reason(), HasSubstr("started over from step 0"));
    EXPECT_EQ(run.fingerprint(), core::ThisBuildFingerprint().id);
  }
  EXPECT_THAT(log.Text(), ::testing::Not(HasSubstr("replaying")));
  EXPECT_EQ(test_support::IntegrityCheck(DbPath()), "ok");
}

TEST_F(ResumeTest, AReplayThatDiffersStartsTheRunOverInsteadOfSplicing) {
  LogCapture log;
  const int64_t job_id = TrainAndInterrupt();
  // A stored step after run 0's checkpoint that the training will not reproduce (a changed
  // kernel would do the same), so the replay from the checkpoint meets it.
  const int64_t run0 = CountRows("SELECT min(id) FROM runs");
  std::unique_ptr<CheckpointFiles> files = *CheckpointFiles::Open(CheckpointDir());
  std::optional<core::CheckpointHeader> header =
      core::ReadCheckpointHeader(files->Load(run0), nullptr);
  ASSERT_TRUE(header.has_value());
  const int changed = header->step + 20;
  Sql(DbPath(), absl::StrCat("UPDATE steps SET loss = loss + 0.5 WHERE step = ", changed,
                             " AND run_id = ", run0));
  const int64_t stored = CountRows(
      "SELECT count(*) FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.idx = 0");
  const v1::Job job = Recover(job_id);
  ASSERT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.error();
  EXPECT_TRUE(training_ == reference_) << "never a spliced trajectory";
  ASSERT_EQ(update_.runs_restarted_size(), 1);
  EXPECT_THAT(update_.runs_restarted(0).reason(),
              HasSubstr(absl::StrCat("gave step ", changed, " a loss of")));
  EXPECT_EQ(job.runs(0).restart_reason(), update_.runs_restarted(0).reason());
  EXPECT_EQ(job.runs(1).restart_reason(), "");
  EXPECT_EQ(CountRows("SELECT count(*) FROM set_aside_steps"), stored);
  EXPECT_EQ(test_support::IntegrityCheck(DbPath()), "ok");
}

// A store whose commits take long: steps pile up behind them while training runs ahead.
class SlowStore final : public test_support::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  absl::StatusOr<std::vector<store::JobCursor>> Append(
      std::span<const store::Event> events) override {
    std::this_thread::sleep_for(15ms);
    return ForwardingStore::Append(events);
  }
};

TEST(CheckpointOrderTest, ACheckpointIsNeverAheadOfTheStoredSteps) {
  TempDir dir("ablate_ckpt_order");
  SlowStore store(*store::Store::Open(dir.File("ablate.db")));
  std::unique_ptr<CheckpointFiles> files = *CheckpointFiles::Open(dir.path() / "checkpoints");
  test_support::JobStack stack(store, /*workers=*/1, nullptr,
                               {.files = files.get(), .policy = {.every_steps = 5}});
  v1::JobSpec spec = test_support::TinySpec(1500, {.depth = 3, .width = 16, .eval_every = 50,
                                                   .name = {}});
  absl::StatusOr<v1::Job> job = stack.jobs->Submit(*ResolveSpec(spec), "ada");
  ASSERT_TRUE(job.ok()) << job.status();
  const int64_t run_id = job->runs(0).id();
  int checked = 0;
  int max_seen = 0;
  for (int i = 0; i < 3000; ++i) {
    // The file first, the store after: the store only grows, so the order is on our side.
    std::optional<core::CheckpointHeader> header =
        core::ReadCheckpointHeader(files->Load(run_id), nullptr);
    absl::StatusOr<v1::Run> run = wire::GetRun(store, run_id);
    ASSERT_TRUE(run.ok());
    if (header) {
      ASSERT_LE(header->step, run->steps_done()) << "a checkpoint ahead of the stored steps";
      max_seen = std::max(max_seen, header->step);
      ++checked;
    }
    if (run->state() == v1::RUN_STATE_COMPLETED) break;
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_GT(checked, 0);  // the order held while a checkpoint was there to compare
  EXPECT_GT(max_seen, 0);
}

}  // namespace
}  // namespace ablate::jobs
