// The Slurm executor with the job manager and a real store, its workers real ablate-worker
// processes started by a stand-in for Slurm (ProcessLauncher), and, for submissions that
// Slurm refuses, Slurm's commands played by slurm_tool_double.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ablate/worker/v1/worker.grpc.pb.h"
#include "absl/strings/str_cat.h"
#include "core/config.h"
#include "core/run.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/service/wire.h"
#include "server/jobs/cursor_hub.h"
#include "server/jobs/event_writer.h"
#include "server/jobs/job_manager.h"
#include "server/convert/core_messages.h"
#include "server/jobs/spec.h"
#include "server/store/store.h"
#include "server/worker/launcher.h"
#include "server/worker/slurm_executor.h"
#include "server/worker/worker_client.h"
#include "tests/support/job_specs.h"
#include "tests/support/temp_dir.h"

extern char** environ;

namespace ablate::worker {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using test_support::TempDir;

// Plays Slurm with local processes: Submit starts the worker program with the environment a
// Slurm job would have; Poll reaps them; Cancel sends SIGTERM, as scancel does.
class ProcessLauncher final : public Launcher {
 public:
  explicit ProcessLauncher(std::string program) : program_(std::move(program)) {}
  ~ProcessLauncher() override {
    std::lock_guard lock(mutex_);
    for (auto& [id, job] : jobs_) {
      if (!job.ended) {
        kill(job.pid, SIGKILL);
        waitpid(job.pid, nullptr, 0);
      }
    }
  }
  void set_address(const std::string& address) { address_ = address; }

  absl::StatusOr<slurm::JobId> Submit(int64_t run_id, const std::string& secret) override {
    std::lock_guard lock(mutex_);
    const slurm::JobId id = next_id_++;
    Job& job = jobs_[id];
    job.run_id = run_id;
    if (!std::filesystem::exists(program_)) {  // what the batch script does
      job.ended = true;
      job.exit_code = slurm::kExitProgramMissing;
      return id;
    }
    std::vector<std::string> args = {program_, "--run", absl::StrCat(run_id), "--reconnect-for",
                                     "10"};
    std::vector<std::string> env = {absl::StrCat(kEnvServer, "=", address_),
                                    absl::StrCat(kEnvSecret, "=", secret),
                                    absl::StrCat("SLURM_JOB_ID=", id)};
    for (const auto& [name, value] : BlasEnvironment()) env.push_back(absl::StrCat(name, "=", value));
    std::vector<char*> argv, envp;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    if (posix_spawn(&job.pid, program_.c_str(), nullptr, nullptr, argv.data(), envp.data()) != 0) {
      return absl::InternalError("posix_spawn failed");
    }
    return id;
  }

  absl::StatusOr<absl::flat_hash_map<slurm::JobId, slurm::JobStatus>> Poll(
      absl::Span<const slurm::JobId> ids) override {
    std::lock_guard lock(mutex_);
    absl::flat_hash_map<slurm::JobId, slurm::JobStatus> states;
    for (slurm::JobId id : ids) {
      auto it = jobs_.find(id);
      if (it == jobs_.end()) continue;
      Reap(it->second);
      states[id] = Status(it->second);
    }
    return states;
  }

  absl::StatusOr<slurm::JobOutcome> Outcome(slurm::JobId id) override {
    std::lock_guard lock(mutex_);
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return absl::NotFoundError("no such job");
    Reap(it->second);
    slurm::JobOutcome outcome;
    outcome.id = id;
    outcome.status = Status(it->second);
    outcome.exit_code = it->second.exit_code;
    outcome.signal = it->second.signal;
    outcome.node_list = "localhost";
    outcome.source = "fake";
    return outcome;
  }

  absl::Status Cancel(slurm::JobId id) override {
    std::lock_guard lock(mutex_);
    ++cancels_;
    auto it = jobs_.find(id);
    if (it != jobs_.end() && !it->second.ended) {
      it->second.cancelled = true;
      kill(it->second.pid, SIGTERM);
    }
    return absl::OkStatus();
  }
  std::string Program() const override { return program_; }

  // Kills job `id`'s worker with SIGKILL: a lost node.
  void Kill(slurm::JobId id) {
    std::lock_guard lock(mutex_);
    kill(jobs_.at(id).pid, SIGKILL);
  }
  int Submissions() {
    std::lock_guard lock(mutex_);
    return static_cast<int>(jobs_.size());
  }
  int Cancels() {
    std::lock_guard lock(mutex_);
    return cancels_;
  }
  // The latest job of run `run_id` (0 if none).
  slurm::JobId JobOf(int64_t run_id) {
    std::lock_guard lock(mutex_);
    slurm::JobId latest = 0;
    for (auto& [id, job] : jobs_) {
      if (job.run_id == run_id) latest = id;
    }
    return latest;
  }

 private:
  struct Job {
    int64_t run_id = 0;
    pid_t pid = 0;
    bool ended = false;
    bool cancelled = false;
    int exit_code = 0;
    int signal = 0;
  };
  static void Reap(Job& job) {
    if (job.ended) return;
    int status = 0;
    if (waitpid(job.pid, &status, WNOHANG) != job.pid) return;
    job.ended = true;
    if (WIFEXITED(status)) job.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) job.signal = WTERMSIG(status);
  }
  static slurm::JobStatus Status(const Job& job) {
    slurm::JobState state = slurm::JobState::kRunning;
    if (job.ended) {
      state = job.cancelled                                     ? slurm::JobState::kCancelled
              : job.exit_code == 0 && job.signal == 0 ? slurm::JobState::kCompleted
                                                              : slurm::JobState::kFailed;
    }
    return slurm::JobStatus{state, std::string(slurm::JobStateName(state))};
  }

  const std::string program_;
  std::string address_;
  std::mutex mutex_;
  std::map<slurm::JobId, Job> jobs_;
  slurm::JobId next_id_ = 1000;
  int cancels_ = 0;
};

// A server's job side with the Slurm executor: store, writer, executor, its gRPC service on a
// free port of 127.0.0.1, and the job manager.
class Stack {
 public:
  explicit Stack(Launcher& launcher, const std::function<void(const std::string&)>& on_address,
                 bool held = false) {
    auto store = store::Store::Open(dir_.File("ablate.db"));
    EXPECT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    writer_ = std::make_unique<jobs::EventWriter>(*store_, hub_);
    SlurmExecutorOptions options;
    options.poll_interval = absl::Milliseconds(100);
    options.cancel_wait = absl::Seconds(10);
    options.held = held;
    executor_ = std::make_unique<SlurmExecutor>(*store_, launcher, options);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&executor_->service());
    server_ = builder.BuildAndStart();
    address_ = absl::StrCat("127.0.0.1:", port);
    on_address(address_);
    jobs_ = std::make_unique<jobs::JobManager>(*store_, *writer_, *executor_, nullptr);
  }
  ~Stack() {
    jobs_->Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() + 1s);
    executor_.reset();
    jobs_.reset();
  }

  SlurmExecutor& executor() { return *executor_; }

  ablate::v1::Job Submit(const ablate::v1::JobSpec& spec) {
    absl::StatusOr<ablate::v1::JobSpec> resolved = jobs::ResolveSpec(spec);
    EXPECT_TRUE(resolved.ok()) << resolved.status();
    absl::StatusOr<ablate::v1::Job> job = jobs_->Submit(*resolved, "ada");
    EXPECT_TRUE(job.ok()) << job.status();
    return *job;
  }
  // Waits up to 60 s for the job to end; returns it as stored.
  ablate::v1::Job WaitEnded(int64_t job_id) {
    for (int i = 0; i < 600; ++i) {
      absl::StatusOr<ablate::v1::Job> job = wire::GetJob(*store_, job_id);
      if (job.ok() && job->state() != ablate::v1::JOB_STATE_QUEUED &&
          job->state() != ablate::v1::JOB_STATE_RUNNING) {
        return *job;
      }
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << "job " << job_id << " did not end within 60 s";
    return *wire::GetJob(*store_, job_id);
  }
  int StepsOf(int64_t run_id) {
    absl::StatusOr<store::Trajectory> t = store_->GetTrajectory(run_id);
    return t.ok() ? static_cast<int>(t->losses.size()) : 0;
  }

  store::Store& store() { return *store_; }
  jobs::JobManager& jobs() { return *jobs_; }
  const std::string& address() const { return address_; }

 private:
  TempDir dir_{"slurm_executor"};
  std::unique_ptr<store::Store> store_;
  jobs::CursorHub hub_;
  std::unique_ptr<jobs::EventWriter> writer_;
  std::unique_ptr<SlurmExecutor> executor_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::unique_ptr<jobs::JobManager> jobs_;
};

// The losses the core gives for run `index` of `spec` trained here, in one piece.
std::vector<uint32_t> LocalLosses(const ablate::v1::JobSpec& spec, int index) {
  const ablate::v1::JobSpec resolved = *jobs::ResolveSpec(spec);
  struct Collect : core::RunObserver {
    std::vector<uint32_t> bits;
    void OnStep(const core::StepRecord& step) override {
      bits.push_back(std::bit_cast<uint32_t>(step.loss));
    }
  } collect;
  core::RunPlan plan;
  plan.config = jobs::ToExperiment(resolved);
  plan.init = convert::ToInitConfig(resolved.runs(index));
  std::string error;
  EXPECT_TRUE(core::TrainRun(plan, &collect, {}, &error).has_value()) << error;
  return collect.bits;
}

std::vector<uint32_t> StoredLosses(store::Store& store, int64_t run_id) {
  absl::StatusOr<store::Trajectory> t = store.GetTrajectory(run_id);
  EXPECT_TRUE(t.ok()) << t.status();
  std::vector<uint32_t> bits;
  if (t.ok()) {
    for (float loss : t->losses) bits.push_back(std::bit_cast<uint32_t>(loss));
  }
  return bits;
}

class SlurmExecutorTest : public ::testing::Test {
 protected:
  ProcessLauncher launcher_{ABLATE_WORKER_BINARY};
  Stack stack_{launcher_, [this](const std::string& a) { launcher_.set_address(a); }};
};

TEST_F(SlurmExecutorTest, RunsTrainInWorkersBitForBitAsLocally) {
  const ablate::v1::JobSpec spec = test_support::ShortLab(120);
  const ablate::v1::Job job = stack_.Submit(spec);
  const ablate::v1::Job ended = stack_.WaitEnded(job.id());
  ASSERT_EQ(ended.state(), ablate::v1::JOB_STATE_SUCCEEDED) << ended.error();
  ASSERT_EQ(ended.runs_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(StoredLosses(stack_.store(), ended.runs(i).id()), LocalLosses(spec, i)) << "run " << i;
    absl::StatusOr<std::optional<store::SlurmDispatch>> dispatch =
        stack_.store().GetSlurmDispatch(ended.runs(i).id());
    ASSERT_TRUE(dispatch.ok() && dispatch->has_value());
    EXPECT_EQ((*dispatch)->dispatches, 1);
    EXPECT_EQ((*dispatch)->secret_sha256.size(), 64u);
  }
  // The uniform run diverges in lab 1 but not in this short version: outcomes come across too.
  EXPECT_EQ(ended.runs(1).final_loss(), ended.runs(1).final_loss());
  EXPECT_GT(ended.runs(2).init_stats_size(), 0);
  EXPECT_TRUE(ended.runs(2).has_final_eval());
}

TEST_F(SlurmExecutorTest, AKilledWorkerIsDispatchedAgainAndItsRunContinuesBitForBit) {
  // A second or so of training here, so that the kill lands early in the run (at 6,000 steps it
  // came with a fifth of them stored).
  constexpr int kSteps = 12000;
  const ablate::v1::JobSpec spec = test_support::TinySpec(kSteps);
  const ablate::v1::Job job = stack_.Submit(spec);
  const int64_t run = job.runs(0).id();
  for (int i = 0; i < 600 && stack_.StepsOf(run) < 500; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_GE(stack_.StepsOf(run), 500);
  const slurm::JobId first = launcher_.JobOf(run);
  const int at_kill = stack_.StepsOf(run);
  ASSERT_EQ(wire::GetRun(stack_.store(), run)->state(), ablate::v1::RUN_STATE_RUNNING)
      << "the run had ended before its worker was killed: lengthen it";
  ASSERT_LT(at_kill, kSteps) << "the run had stored all its steps before its worker was killed";
  launcher_.Kill(first);
  const ablate::v1::Job ended = stack_.WaitEnded(job.id());
  ASSERT_EQ(ended.state(), ablate::v1::JOB_STATE_SUCCEEDED) << ended.error();
  EXPECT_NE(launcher_.JobOf(run), first);
  EXPECT_EQ((*stack_.store().GetSlurmDispatch(run))->dispatches, 2);
  // Contiguous, each step once, and the local run's bits.
  EXPECT_EQ(StoredLosses(stack_.store(), run), LocalLosses(spec, 0));
}

TEST_F(SlurmExecutorTest, AWorkerWithAWrongSecretIsRefused) {
  // Training still when the intruder has been refused (at 4,000 steps, a third were left).
  constexpr int kSteps = 12000;
  const ablate::v1::Job job = stack_.Submit(test_support::TinySpec(kSteps));
  const int64_t run = job.runs(0).id();
  for (int i = 0; i < 600 && stack_.StepsOf(run) < 10; ++i) std::this_thread::sleep_for(10ms);
  WorkerOptions intruder;
  intruder.server = stack_.address();
  intruder.run_id = run;
  intruder.secret = "abl_guessed";
  intruder.reconnect_for = absl::Seconds(5);
  std::string error;
  EXPECT_EQ(RunWorker(intruder, &error), kExitRefused);
  // Refused as a claim on the run being trained, not by the check for runs that have ended.
  ASSERT_EQ(wire::GetRun(stack_.store(), run)->state(), ablate::v1::RUN_STATE_RUNNING)
      << "the run had ended before the intruder was refused: lengthen it";
  EXPECT_THAT(error, HasSubstr("refused"));
  EXPECT_THAT(error, HasSubstr("the secret is not that of run " + std::to_string(run) +
                               "'s current Slurm job"));
  // A run that does not exist: refused alike.
  intruder.run_id = 999999;
  EXPECT_EQ(RunWorker(intruder, &error), kExitRefused);
  const ablate::v1::Job ended = stack_.WaitEnded(job.id());
  EXPECT_EQ(ended.state(), ablate::v1::JOB_STATE_SUCCEEDED) << ended.error();
  EXPECT_EQ(stack_.StepsOf(run), kSteps);
}

TEST_F(SlurmExecutorTest, CancelEndsTheWorkersJob) {
  const ablate::v1::Job job = stack_.Submit(test_support::TinySpec(100000));
  const int64_t run = job.runs(0).id();
  for (int i = 0; i < 600 && stack_.StepsOf(run) < 10; ++i) std::this_thread::sleep_for(10ms);
  absl::StatusOr<ablate::v1::Job> cancelled = stack_.jobs().Cancel(job.id(), 20s);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), ablate::v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(launcher_.Cancels(), 1);
  EXPECT_EQ(cancelled->runs(0).state(), ablate::v1::RUN_STATE_CANCELLED);
  EXPECT_THAT(cancelled->runs(0).outcome(), HasSubstr("cancelled at step"));
}

// A launcher whose jobs run nothing and stay running: the test plays the worker, with the
// secret the server made.
class SecretKeeper final : public Launcher {
 public:
  absl::StatusOr<slurm::JobId> Submit(int64_t, const std::string& secret) override {
    std::lock_guard lock(mutex_);
    secret_ = secret;
    return ++jobs_;
  }
  absl::StatusOr<absl::flat_hash_map<slurm::JobId, slurm::JobStatus>> Poll(
      absl::Span<const slurm::JobId> ids) override {
    absl::flat_hash_map<slurm::JobId, slurm::JobStatus> running;
    for (slurm::JobId id : ids) running[id] = {slurm::JobState::kRunning, "RUNNING"};
    return running;
  }
  absl::StatusOr<slurm::JobOutcome> Outcome(slurm::JobId) override {
    return absl::NotFoundError("no");
  }
  absl::Status Cancel(slurm::JobId) override { return absl::OkStatus(); }
  std::string Program() const override { return "/fake/ablate-worker"; }
  std::string secret() {
    std::lock_guard lock(mutex_);
    return secret_;
  }

 private:
  std::mutex mutex_;
  std::string secret_;
  slurm::JobId jobs_ = 0;
};

// One stream of a hand-played worker: hello, then `events`; returns how the server ended it.
grpc::Status PlayWorker(const std::string& address, int64_t run, const std::string& secret,
                        bool training, const std::vector<std::pair<int, float>>& steps) {
  auto stub = v1::RunWorker::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  auto stream = stub->Connect(&context);
  v1::WorkerMessage hello;
  hello.mutable_hello()->set_run_id(run);
  hello.mutable_hello()->set_secret(secret);
  hello.mutable_hello()->set_training(training);
  v1::ServerMessage reply;
  if (stream->Write(hello) && stream->Read(&reply)) {
    v1::WorkerMessage progress;
    for (auto [step, loss] : steps) {
      v1::Step& s = *progress.mutable_progress()->add_events()->mutable_step();
      s.set_step(step);
      s.set_loss(loss);
    }
    stream->Write(progress);
    stream->WritesDone();
    while (stream->Read(&reply)) {
    }
  }
  return stream->Finish();
}

// The secret of the run's Slurm job, once the executor has submitted it (up to 2 s; empty if not).
std::string WaitForSecret(SecretKeeper& launcher) {
  for (int i = 0; i < 100 && launcher.secret().empty(); ++i) std::this_thread::sleep_for(20ms);
  return launcher.secret();
}

// A tiny job whose run's worker the test plays by hand, with the secret of the run's Slurm job
// (empty if the executor did not submit it within 2 s).
struct HandPlayedRun {
  SecretKeeper launcher;
  Stack stack{launcher, [](const std::string&) {}};
  const ablate::v1::Job job = stack.Submit(test_support::TinySpec(100));
  const int64_t run = job.runs(0).id();
  const std::string secret = WaitForSecret(launcher);

  // Steps 0 and 1 on one worker stream that then ends without an outcome; how the server ended
  // it. Returns once both steps are stored, or after 2 s.
  grpc::StatusCode PlayStepsZeroAndOne() {
    const grpc::StatusCode code =
        PlayWorker(stack.address(), run, secret, true, {{0, 1.0f}, {1, 0.75f}}).error_code();
    for (int i = 0; i < 100 && stack.StepsOf(run) < 2; ++i) std::this_thread::sleep_for(20ms);
    return code;
  }
};

TEST(SlurmExecutorHostileWorkerTest, StepsOutOfOrderOrRangeAreRefusedAndAReplayMustMatch) {
  HandPlayedRun h;
  ASSERT_FALSE(h.secret.empty());

  EXPECT_EQ(PlayWorker(h.stack.address(), h.run, h.secret, false, {{0, 1.0f}, {5, 0.5f}})
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);  // a gap after step 0
  EXPECT_EQ(PlayWorker(h.stack.address(), h.run, h.secret, true, {{100, 0.5f}}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);  // beyond the run's 100 steps
  EXPECT_EQ(PlayWorker(h.stack.address(), h.run, h.secret, true, {{-1, 0.5f}}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Step 0 again with the same bits is taken (and not recorded twice), then step 1.
  EXPECT_EQ(h.PlayStepsZeroAndOne(),
            grpc::StatusCode::CANCELLED);  // the stream ended without an outcome
  EXPECT_EQ(h.stack.StepsOf(h.run), 2);
  // Step 1 with other bits: the run is not the same any more, and fails saying so. (The
  // stream ends ABORTED, or CANCELLED when the run's end, which cancels its stream, comes first.)
  EXPECT_THAT(PlayWorker(h.stack.address(), h.run, h.secret, true, {{1, 0.5f}}).error_code(),
              ::testing::AnyOf(grpc::StatusCode::ABORTED, grpc::StatusCode::CANCELLED));
  const ablate::v1::Job ended = h.stack.WaitEnded(h.job.id());
  EXPECT_EQ(ended.state(), ablate::v1::JOB_STATE_FAILED);
  EXPECT_THAT(ended.error(), HasSubstr("did not reproduce its step 1 bit for bit"));
  EXPECT_EQ(h.stack.StepsOf(h.run), 2);
}

// A server killed right after assigning a run dies before committing the run's start; its worker
// trains on and, after the restart, reconnects as already training. Its steps are recorded: the
// run's start is put on record first, instead of the store refusing step 0 and failing the job.
TEST(SlurmExecutorHostileWorkerTest, AWorkerTrainingARunStoredAsQueuedHasItsStartRecorded) {
  HandPlayedRun h;
  ASSERT_FALSE(h.secret.empty());

  EXPECT_EQ(h.PlayStepsZeroAndOne(),
            grpc::StatusCode::CANCELLED);  // the stream ended without an outcome
  EXPECT_EQ(h.stack.StepsOf(h.run), 2);
  const absl::StatusOr<ablate::v1::Job> now = wire::GetJob(h.stack.store(), h.job.id());
  ASSERT_TRUE(now.ok()) << now.status();
  EXPECT_EQ(now->runs(0).state(), ablate::v1::RUN_STATE_RUNNING);
  EXPECT_NE(now->state(), ablate::v1::JOB_STATE_FAILED) << now->error();
}

// A server holds the queue while it recovers runs: nothing goes to Slurm before Release.
TEST(SlurmExecutorHeldTest, AHeldExecutorDispatchesNothingUntilReleased) {
  SecretKeeper launcher;
  Stack stack(launcher, [](const std::string&) {}, /*held=*/true);
  stack.Submit(test_support::TinySpec(10));
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(launcher.secret().empty()) << "dispatched while held";
  EXPECT_EQ(stack.executor().QueuedRuns(), 1);
  stack.executor().Release();
  for (int i = 0; i < 100 && launcher.secret().empty(); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(launcher.secret().empty()) << "not dispatched after Release";
}

TEST(SlurmExecutorMissingWorkerTest, ARunWhoseWorkerProgramIsMissingFailsSayingSo) {
  ProcessLauncher launcher("/nonexistent/bin/ablate-worker");
  Stack stack(launcher, [&](const std::string& a) { launcher.set_address(a); });
  const ablate::v1::Job job = stack.Submit(test_support::TinySpec(10));
  const ablate::v1::Job ended = stack.WaitEnded(job.id());
  EXPECT_EQ(ended.state(), ablate::v1::JOB_STATE_FAILED);
  EXPECT_THAT(ended.error(), HasSubstr("/nonexistent/bin/ablate-worker does not exist there"));
  EXPECT_EQ(launcher.Submissions(), 1);  // not tried again: it would fail the same way
}

TEST(SlurmExecutorRefusedTest, ARunThatSlurmRefusesThreeTimesFailsWithSlurmsReason) {
  // sbatch, squeue, scontrol and scancel are all slurm_tool_double, here a fake that fails as
  // sbatch does for an unknown partition.
  TempDir bin("slurm_bin");
  for (const char* tool : {"sbatch", "squeue", "scontrol", "scancel"}) {
    std::filesystem::create_symlink(ABLATE_SLURM_TOOL_DOUBLE, bin.path() / tool);
  }
  {
    std::ofstream conf(bin.File("fake.conf"));
    conf << "# fake\nexit=1\nerr=sbatch: error: invalid partition specified: nope\n";
  }
  slurm::SlurmOptions options;
  options.bin_dir = bin.path().string();
  options.slurm_conf = bin.File("fake.conf");
  absl::StatusOr<std::unique_ptr<slurm::SlurmClient>> client = slurm::SlurmClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  SlurmLaunchOptions launch;
  launch.worker_program = ABLATE_WORKER_BINARY;
  launch.partition = "nope";
  launch.log_dir = bin.path().string();
  SlurmLauncher launcher(*std::move(client), launch);
  Stack stack(launcher, [&](const std::string& a) { launcher.SetServerAddress(a); });
  const ablate::v1::Job job = stack.Submit(test_support::TinySpec(10));
  const ablate::v1::Job ended = stack.WaitEnded(job.id());
  EXPECT_EQ(ended.state(), ablate::v1::JOB_STATE_FAILED);
  EXPECT_THAT(ended.error(), HasSubstr("dispatched to Slurm 3 times"));
  EXPECT_THAT(ended.error(), HasSubstr("invalid partition specified: nope"));
}

}  // namespace
}  // namespace ablate::worker
