// The local executor's scheduling: owners take turns, and stopped queued runs end at once.
// One worker and a first run that blocks in OnStarted make the order deterministic.
#include "server/jobs/local_executor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ablate::jobs {
namespace {

using namespace std::chrono_literals;

// What every listener reports to: the order runs started in, and how they ended.
struct Log {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> started;             // guarded by mutex
  std::vector<std::string> cancelled_in_queue;  // guarded by mutex
  int ended = 0;                                // guarded by mutex

  // Waits until `n` runs have ended; false after 30 s.
  bool WaitEnded(int n) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 30s, [&] { return ended >= n; });
  }
};

class Listener final : public RunListener {
 public:
  // `gate`, when given, holds OnStarted (and so the worker) until it is set.
  Listener(Log& log, std::string name, std::shared_future<void> gate = {})
      : log_(log), name_(std::move(name)), gate_(std::move(gate)) {}

  void OnStarted() override {
    {
      std::lock_guard lock(log_.mutex);
      log_.started.push_back(name_);
    }
    log_.changed.notify_all();
    if (gate_.valid()) gate_.wait();
  }
  std::string OnStarting(const std::string& /*fingerprint*/) override { return {}; }
  void OnFinished(const core::RunResult& result) override {
    std::lock_guard lock(log_.mutex);
    if (result.outcome == core::Outcome::kCancelled && result.steps_run == 0) {
      log_.cancelled_in_queue.push_back(name_);
    }
    ++log_.ended;
    log_.changed.notify_all();
  }
  void OnFailed(const std::string& error) override {
    ADD_FAILURE() << name_ << " failed: " << error;
    OnFinished(core::RunResult{});
  }

 private:
  Log& log_;
  const std::string name_;
  std::shared_future<void> gate_;
};

// A run that trains in well under a millisecond.
RunRequest TinyRun(const std::string& owner, RunListener* listener, std::stop_token stop = {}) {
  core::ExperimentConfig config;
  config.model = {.depth = 2, .width = 4, .input_dim = 4, .classes = 2};
  config.data = {.train_size = 8, .val_size = 4, .label_dims = 2, .seed = 1};
  config.train.steps = 2;
  config.train.batch = 4;
  config.train.eval_every = 1;
  return RunRequest{.run_id = 1,
                    .owner = owner,
                    .config = config,
                    .init = core::InitConfig{.scheme = "kaiming", .weight_seed = 1},
                    .stop = std::move(stop),
                    .checkpoints = {},
                    .listener = listener};
}

class LocalExecutorTest : public testing::Test {
 protected:
  // Starts a run of `owner` that holds the one worker until Release().
  void Block(const std::string& owner) {
    listeners_.push_back(std::make_unique<Listener>(log_, "blocker", gate_.get_future().share()));
    executor_.Execute(TinyRun(owner, listeners_.back().get()));
    std::unique_lock lock(log_.mutex);
    ASSERT_TRUE(log_.changed.wait_for(lock, 30s, [&] { return !log_.started.empty(); }));
  }
  void Release() { gate_.set_value(); }

  void Queue(const std::string& owner, const std::string& name, std::stop_token stop = {}) {
    listeners_.push_back(std::make_unique<Listener>(log_, name));
    executor_.Execute(TinyRun(owner, listeners_.back().get(), std::move(stop)));
  }

  Log log_;
  std::promise<void> gate_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  LocalExecutor executor_{1};  // destroyed first: it joins its threads before the listeners go
};

TEST_F(LocalExecutorTest, ALateOwnersOneRunStartsBeforeAnEarlyOwnersTenRuns) {
  Block("carol");
  for (int i = 0; i < 10; ++i) Queue("alice", absl::StrCat("a", i));
  Queue("bob", "b0");
  Release();
  ASSERT_TRUE(log_.WaitEnded(12));
  std::lock_guard lock(log_.mutex);
  EXPECT_EQ(log_.started, (std::vector<std::string>{"blocker", "a0", "b0", "a1", "a2", "a3", "a4",
                                                    "a5", "a6", "a7", "a8", "a9"}));
}

TEST_F(LocalExecutorTest, TheTurnGoesToTheNextOwnerWhateverTheNamesOrder) {
  // zed queued first and sorts last; amy's one run still starts second.
  Block("mia");
  for (int i = 0; i < 10; ++i) Queue("zed", absl::StrCat("z", i));
  Queue("amy", "a0");
  Release();
  ASSERT_TRUE(log_.WaitEnded(12));
  std::lock_guard lock(log_.mutex);
  ASSERT_GE(log_.started.size(), 3u);
  EXPECT_EQ(log_.started[1], "z0");
  EXPECT_EQ(log_.started[2], "a0");
}

TEST_F(LocalExecutorTest, OwnersTakeTurnsRunByRunAndEachOwnersRunsKeepTheirOrder) {
  Block("zoe");
  Queue("ann", "ann0");
  Queue("ann", "ann1");
  Queue("ann", "ann2");
  Queue("ben", "ben0");
  Queue("ben", "ben1");
  Queue("cat", "cat0");
  Release();
  ASSERT_TRUE(log_.WaitEnded(7));
  std::lock_guard lock(log_.mutex);
  EXPECT_EQ(log_.started, (std::vector<std::string>{"blocker", "ann0", "ben0", "cat0", "ann1",
                                                    "ben1", "ann2"}));
}

TEST_F(LocalExecutorTest, AStoppedQueuedRunEndsWhileEveryWorkerIsBusy) {
  Block("carol");
  std::stop_source cancel;
  Queue("alice", "stopped", cancel.get_token());
  Queue("alice", "kept");
  cancel.request_stop();
  {
    std::unique_lock lock(log_.mutex);
    ASSERT_TRUE(log_.changed.wait_for(lock, 30s, [&] { return log_.ended == 1; }))
        << "the stopped run waited for the busy worker";
    EXPECT_EQ(log_.cancelled_in_queue, std::vector<std::string>{"stopped"});
    EXPECT_EQ(log_.started, std::vector<std::string>{"blocker"});
  }
  Release();
  ASSERT_TRUE(log_.WaitEnded(3));
  std::lock_guard lock(log_.mutex);
  EXPECT_EQ(log_.started, (std::vector<std::string>{"blocker", "kept"}));
}

TEST_F(LocalExecutorTest, ARunStoppedBeforeItIsQueuedNeverStarts) {
  std::stop_source cancel;
  cancel.request_stop();
  Queue("alice", "stopped", cancel.get_token());
  ASSERT_TRUE(log_.WaitEnded(1));
  std::lock_guard lock(log_.mutex);
  EXPECT_EQ(log_.cancelled_in_queue, std::vector<std::string>{"stopped"});
  EXPECT_TRUE(log_.started.empty());
}

// A server that restarts queues its interrupted runs oldest job first; held workers let the
// round robin by owner, not that order, choose the first runs. One worker, so that the order
// the runs start in is the order the queue gives them (with two, a worker preempted between
// taking a run and starting it lets the other's next run start first).
TEST(LocalExecutorHeldTest, HeldWorkersStartNothingUntilReleasedThenOwnersTakeTurns) {
  Log log;
  std::vector<std::unique_ptr<Listener>> listeners;
  LocalExecutor executor(1, /*held=*/true);  // destroyed before the listeners
  auto queue = [&](const std::string& owner, const std::string& name) {
    listeners.push_back(std::make_unique<Listener>(log, name));
    executor.Execute(TinyRun(owner, listeners.back().get()));
  };
  for (int i = 0; i < 3; ++i) queue("alice", absl::StrCat("a", i));
  std::this_thread::sleep_for(100ms);
  {
    std::lock_guard lock(log.mutex);
    EXPECT_TRUE(log.started.empty()) << "a held worker started " << log.started.front();
  }
  queue("bob", "b0");
  executor.Release();
  ASSERT_TRUE(log.WaitEnded(4));
  std::lock_guard lock(log.mutex);
  EXPECT_EQ(log.started, (std::vector<std::string>{"a0", "b0", "a1", "a2"}));
}

}  // namespace
}  // namespace ablate::jobs

namespace ablate::jobs {
namespace {

// Stops its run from OnStarted, the moment before the run's data is generated, and keeps what
// the run reported at its end.
class StopAtStart final : public RunListener {
 public:
  explicit StopAtStart(std::stop_source& stop) : stop_(stop) {}
  void OnStarted() override { stop_.request_stop(); }
  std::string OnStarting(const std::string& /*fingerprint*/) override { return {}; }
  void OnFinished(const core::RunResult& result) override { ended_.set_value(result); }
  void OnFailed(const std::string& error) override { ADD_FAILURE() << error; }
  std::future<core::RunResult> Ended() { return ended_.get_future(); }

 private:
  std::stop_source& stop_;
  std::promise<core::RunResult> ended_;
};

// Generating a large data set takes seconds, longer than a cancel waits for its job to end: a
// cancel that came during it must end the run there, before any model is built (a model built
// is one whose statistics at init were measured).
TEST(LocalExecutorStopTest, ARunStoppedWhileItsDataIsGeneratedEndsBeforeTraining) {
  std::stop_source stop;
  StopAtStart listener(stop);
  std::future<core::RunResult> ended = listener.Ended();
  {
    LocalExecutor executor(1);
    RunRequest request = TinyRun("ada", &listener, stop.get_token());
    request.config.data.train_size = 100000;
    request.config.model.input_dim = 256;
    executor.Execute(std::move(request));
    ASSERT_EQ(ended.wait_for(60s), std::future_status::ready);
  }
  const core::RunResult result = ended.get();
  EXPECT_EQ(result.outcome, core::Outcome::kCancelled);
  EXPECT_EQ(result.steps_run, 0);
  EXPECT_TRUE(result.init_stats.empty()) << "the model was built and measured";
}

}  // namespace
}  // namespace ablate::jobs
