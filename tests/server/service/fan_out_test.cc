// Live fan-out: many watchers of one job cost the store about one read per commit between
// them, not one each, and every watcher still receives every step exactly once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/util/time_util.h"
#include "server/service/wire.h"
#include "server/service/service.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/job_specs.h"
#include "tests/support/job_stack.h"
#include "tests/support/read_only_store.h"
#include "tests/support/service_stack.h"

namespace ablate::service {
namespace {

using namespace std::chrono_literals;

// Counts commits and watch reads.
class CountingStore : public test_support::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  absl::StatusOr<std::vector<store::JobCursor>> Append(
      std::span<const store::Event> events) override {
    ++appends;
    return ForwardingStore::Append(events);
  }
  absl::StatusOr<store::StoredUpdate> ReadUpdate(int64_t job_id, uint64_t after,
                                                 int max_events) override {
    ++reads;
    return ForwardingStore::ReadUpdate(job_id, after, max_events);
  }
  std::atomic<int> appends{0};
  std::atomic<int> reads{0};
};

// The watch's next update or error; nullopt (a failure) after 60 s of silence.
std::optional<absl::StatusOr<UpdatePtr>> NextOf(JobWatch& watch) {
  auto next = std::make_shared<std::promise<absl::StatusOr<UpdatePtr>>>();
  // Shared with the callback, which may still come after the wait gave up.
  watch.Next([next](absl::StatusOr<UpdatePtr> u) { next->set_value(std::move(u)); });
  std::future<absl::StatusOr<UpdatePtr>> future = next->get_future();
  if (future.wait_for(60s) != std::future_status::ready) {
    ADD_FAILURE() << "the watch neither went on nor ended within 60 s";
    return std::nullopt;
  }
  return future.get();
}

// Pulls every update of a watch until the job's end; empty after an error or 60 s of silence.
// Also keeps the shared updates themselves in `shared` when given.
std::vector<v1::JobUpdate> Drain(JobWatch& watch, std::vector<UpdatePtr>* shared = nullptr) {
  std::vector<v1::JobUpdate> updates;
  for (;;) {
    std::optional<absl::StatusOr<UpdatePtr>> next = NextOf(watch);
    if (!next) return {};
    absl::StatusOr<UpdatePtr>& update = *next;
    if (!update.ok()) {
      ADD_FAILURE() << update.status();
      return {};
    }
    updates.push_back((*update)->update());
    if (shared != nullptr) shared->push_back(*update);
    if ((*update)->update().has_job_finished()) return updates;
  }
}

TEST(FanOutTest, ManyWatchersCostAboutOneStoreReadPerCommit) {
  constexpr int kWatchers = 20;
  auto counting = std::make_unique<CountingStore>(*store::Store::Open(":memory:"));
  CountingStore& store = *counting;
  ThreadPool pool(4);
  test_support::JobStack training(store, /*workers=*/2);
  AblationService service(store, *training.jobs, training.hub, pool);

  v1::SubmitJobRequest submit;
  *submit.mutable_spec() = test_support::ShortLab(1000);
  const v1::Job job = *service.SubmitJob(auth::Caller(), submit);
  v1::WatchJobRequest request;
  request.set_job_id(job.id());
  std::vector<std::map<int64_t, std::vector<float>>> received(kWatchers);
  std::atomic<uint64_t> updates{0};
  std::vector<std::thread> watchers;
  for (int i = 0; i < kWatchers; ++i) {
    absl::StatusOr<std::unique_ptr<JobWatch>> watch = service.WatchJob(auth::Caller(), request);
    ASSERT_TRUE(watch.ok()) << watch.status();
    watchers.emplace_back([&received, &updates, i, watch = *std::move(watch)] {
      const std::vector<v1::JobUpdate> drained = Drain(*watch);
      updates += drained.size();
      received[i] = test_support::CollectSteps(drained);
    });
  }
  for (std::thread& t : watchers) t.join();

  ASSERT_TRUE(test_support::WaitUntilEnded(store, job.id()));
  ASSERT_EQ(received[0].size(), 3u);
  for (const auto& [run, losses] : received[0]) EXPECT_EQ(losses.size(), 1000u) << "run " << run;
  for (int i = 1; i < kWatchers; ++i) EXPECT_EQ(received[i], received[0]) << "watcher " << i;
  // One read per commit at most for the job's tail, plus a catch-up read or so per watcher;
  // each watcher reading on its own would be kWatchers times the commits.
  std::printf("%d commits, %d watch reads for %d watchers\n", store.appends.load(),
              store.reads.load(), kWatchers);
  EXPECT_LE(store.reads.load(), store.appends.load() + kWatchers);
  EXPECT_EQ(service.WatchStoreReads(), static_cast<uint64_t>(store.reads.load()) + 1)
      << "the tail's start reads the job's cursor";

  // Each live update handed to a watcher has its delay counted once (those of steps done
  // before a watch began, not at all); a watch of the ended job replays history only.
  const metrics::HistogramSnapshot live = service.WatchDelays();
  EXPECT_GT(live.cumulative.back(), 0u);
  EXPECT_LE(live.cumulative.back(), updates.load());
  absl::StatusOr<std::unique_ptr<JobWatch>> replay = service.WatchJob(auth::Caller(), request);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(test_support::CollectSteps(Drain(**replay)), received[0]);
  EXPECT_EQ(service.WatchDelays().cumulative.back(), live.cumulative.back());
  training.jobs->Shutdown();
}

// A live update says when its oldest event was posted by the training, on the wall clock: after
// the job was submitted and no later than the update's arrival. History read back from the
// store says nothing of the kind.
TEST(FanOutTest, ALiveUpdateSaysWhenItsOldestEventWasPosted) {
  std::unique_ptr<store::Store> store = *store::Store::Open(":memory:");
  ThreadPool pool(2);
  test_support::JobStack training(*store, /*workers=*/2);
  AblationService service(*store, *training.jobs, training.hub, pool);
  v1::SubmitJobRequest submit;
  *submit.mutable_spec() = test_support::ShortLab(300);
  const absl::Time submitted = absl::Now();
  const v1::Job job = *service.SubmitJob(auth::Caller(), submit);
  v1::WatchJobRequest request;
  request.set_job_id(job.id());
  std::unique_ptr<JobWatch> watch = *service.WatchJob(auth::Caller(), request);
  int stamped = 0;
  for (bool finished = false; !finished;) {
    std::optional<absl::StatusOr<UpdatePtr>> next = NextOf(*watch);
    ASSERT_TRUE(next.has_value());
    ASSERT_TRUE(next->ok()) << next->status();
    const absl::Time arrived = absl::Now();
    const v1::JobUpdate& update = (**next)->update();
    finished = update.has_job_finished();
    if (!update.has_posted_at()) continue;
    ++stamped;
    const absl::Time posted = absl::FromUnixMicros(
        google::protobuf::util::TimeUtil::TimestampToMicroseconds(update.posted_at()));
    EXPECT_GE(posted, submitted - absl::Milliseconds(1)) << update.cursor();
    EXPECT_LE(posted, arrived + absl::Milliseconds(1)) << update.cursor();
  }
  EXPECT_GT(stamped, 0) << "no update came live";
  std::unique_ptr<JobWatch> replay = *service.WatchJob(auth::Caller(), request);
  for (const v1::JobUpdate& update : Drain(*replay)) {
    EXPECT_FALSE(update.has_posted_at()) << "history at cursor " << update.cursor();
  }
  training.jobs->Shutdown();
}

TEST(FanOutTest, AWatcherFarBehindTheTailCatchesUpFromTheStore) {
  auto counting = std::make_unique<CountingStore>(*store::Store::Open(":memory:"));
  CountingStore& store = *counting;
  ThreadPool pool(2);
  test_support::JobStack training(store, /*workers=*/1);
  ServiceOptions options;
  options.live.tail_events = 16;  // a tail much shorter than the job
  AblationService service(store, *training.jobs, training.hub, pool, options);

  v1::SubmitJobRequest submit;
  *submit.mutable_spec() = test_support::ShortLab(300);
  const v1::Job job = *service.SubmitJob(auth::Caller(), submit);
  v1::WatchJobRequest request;
  request.set_job_id(job.id());
  // One watcher keeps the tail alive from the start; a second starts from 0 once the job has
  // gone far past the tail, then both read to the end.
  std::unique_ptr<JobWatch> early = *service.WatchJob(auth::Caller(), request);
  std::future<std::map<int64_t, std::vector<float>>> first = std::async(
      std::launch::async, [&] { return test_support::CollectSteps(Drain(*early)); });
  ASSERT_TRUE(test_support::WaitForJob(store, job.id(), [&](v1::JobState) {
    return *store.Cursor(job.id()) > 200;
  }));
  std::unique_ptr<JobWatch> late = *service.WatchJob(auth::Caller(), request);
  const auto second = test_support::CollectSteps(Drain(*late));
  EXPECT_EQ(second, first.get());
  for (const auto& [run, losses] : second) EXPECT_EQ(losses.size(), 300u) << "run " << run;
  training.jobs->Shutdown();
}

// What an update says, in a form that does not depend on how its steps are grouped: per run,
// its steps (first step, losses); the runs started, evaluated and finished; the end.
struct Said {
  std::map<int64_t, std::vector<std::pair<int, float>>> steps;
  std::vector<int64_t> started, finished;
  std::vector<std::pair<int64_t, int>> evals;
  bool job_finished = false;
  bool operator==(const Said&) const = default;
};
Said WhatItSays(const v1::JobUpdate& u) {
  Said said;
  for (const v1::StepLosses& s : u.steps()) {
    for (int i = 0; i < s.losses_size(); ++i) {
      said.steps[s.run_id()].emplace_back(s.first_step() + i, s.losses(i));
    }
  }
  for (const v1::RunStarted& r : u.runs_started()) said.started.push_back(r.run_id());
  for (const v1::RunFinished& r : u.runs_finished()) said.finished.push_back(r.run().id());
  for (const v1::EvalResult& e : u.evals()) said.evals.emplace_back(e.run_id(), e.step());
  std::sort(said.started.begin(), said.started.end());
  std::sort(said.finished.begin(), said.finished.end());
  std::sort(said.evals.begin(), said.evals.end());
  said.job_finished = u.has_job_finished();
  return said;
}

// A watcher that falls behind by many rounds gets everything the tail holds after its cursor
// as one update (up to 2,000 sequence numbers), not one update per round: it catches up in a
// write or two, and what it gets is what the store holds for that slice. Its cursor resumes
// right after the merged update.
TEST(FanOutTest, ALaggingWatcherCatchesUpInOneMergedUpdate) {
  auto counting = std::make_unique<CountingStore>(*store::Store::Open(":memory:"));
  CountingStore& store = *counting;
  ThreadPool pool(2);
  test_support::JobStack training(store, /*workers=*/3);
  ServiceOptions options;
  options.live.fan_out_interval = 1ms;  // many rounds, so that a merge has many to join
  AblationService service(store, *training.jobs, training.hub, pool, options);

  v1::SubmitJobRequest submit;
  *submit.mutable_spec() = test_support::ShortLab(2000);
  const v1::Job job = *service.SubmitJob(auth::Caller(), submit);
  v1::WatchJobRequest request;
  request.set_job_id(job.id());
  // The prompt watcher keeps the tail from the start; the lagging one opens at the same time
  // but asks for nothing until the job has ended.
  std::unique_ptr<JobWatch> prompt = *service.WatchJob(auth::Caller(), request);
  std::unique_ptr<JobWatch> lagging = *service.WatchJob(auth::Caller(), request);
  const std::vector<v1::JobUpdate> prompt_updates = Drain(*prompt);
  ASSERT_TRUE(test_support::WaitUntilEnded(store, job.id()));
  std::vector<UpdatePtr> lagging_shared;
  const std::vector<v1::JobUpdate> lagging_updates = Drain(*lagging, &lagging_shared);
  ASSERT_FALSE(lagging_updates.empty());
  // What SSE sends instead of a merged update: its parts, each an update of its own with its
  // own cursor, which together say the same.
  std::vector<v1::JobUpdate> as_parts;
  for (const UpdatePtr& u : lagging_shared) {
    if (u->parts().empty()) {
      as_parts.push_back(u->update());
      continue;
    }
    for (const UpdatePtr& part : u->parts()) as_parts.push_back(part->update());
    EXPECT_LE(u->parts().back()->cursor(), u->cursor());
    EXPECT_EQ(u->parts().back()->finished(), u->finished());
  }
  EXPECT_GT(as_parts.size(), lagging_updates.size()) << "no update was merged";

  // Every step exactly once, in order (CollectSteps checks), the same as the prompt watcher's.
  const auto all = test_support::CollectSteps(prompt_updates);
  ASSERT_EQ(all.size(), 3u);
  for (const auto& [run, losses] : all) EXPECT_EQ(losses.size(), 2000u) << "run " << run;
  EXPECT_EQ(test_support::CollectSteps(lagging_updates), all);
  EXPECT_EQ(test_support::CollectSteps(as_parts), all);
  // Merged updates of up to 2,000 sequence numbers, and perhaps a read of the store for what
  // preceded the tail; the prompt watcher needed one a round. A merge joins whole chunks of the
  // tail (one commit's events each) and stops before the one that would take it past 2,000, so
  // every merge but the last spans more than 2,000 minus the largest chunk: a fast core on a
  // loaded machine commits hundreds of steps at once.
  uint64_t largest_chunk = 0, previous = 0;
  for (const UpdatePtr& u : lagging_shared) {
    for (const UpdatePtr& part : u->parts()) {
      largest_chunk = std::max(largest_chunk, part->cursor() - previous);
      previous = part->cursor();
    }
    previous = u->cursor();
  }
  const uint64_t events = lagging_updates.back().cursor();
  std::printf("%llu events; prompt watcher: %zu updates; lagging watcher: %zu; largest chunk %llu\n",
              static_cast<unsigned long long>(events), prompt_updates.size(),
              lagging_updates.size(), static_cast<unsigned long long>(largest_chunk));
  ASSERT_LT(largest_chunk, 2000u) << "no chunk could be merged with another";
  EXPECT_LE(lagging_updates.size(), events / (2000 - largest_chunk) + 2);
  // A loaded machine trains in fewer, bigger rounds: the prompt watcher then gets fewer
  // updates, but still more than the lagging one's merges.
  EXPECT_GT(prompt_updates.size(), lagging_updates.size())
      << "too few rounds for the test to mean anything";
  EXPECT_TRUE(lagging_updates.back().has_job_finished());

  uint64_t before = 0;
  for (size_t i = 0; i < lagging_updates.size(); ++i) {
    const v1::JobUpdate& u = lagging_updates[i];
    EXPECT_LE(u.cursor() - before, 2000u) << "update " << i;
    // A run's consecutive steps travel as one StepLosses.
    std::set<int64_t> runs;
    for (const v1::StepLosses& s : u.steps()) {
      EXPECT_TRUE(runs.insert(s.run_id()).second) << "update " << i << ", run " << s.run_id();
    }
    // The same as the store says for the slice (before, cursor].
    absl::StatusOr<v1::JobUpdate> stored =
        wire::ReadUpdate(store, job.id(), before, static_cast<int>(u.cursor() - before));
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(stored->cursor(), u.cursor());
    EXPECT_TRUE(WhatItSays(u) == WhatItSays(*stored)) << "update " << i;

    // Resuming from a merged update's cursor continues right after it.
    if (!u.has_job_finished()) {
      v1::WatchJobRequest resume = request;
      resume.set_cursor(u.cursor());
      std::unique_ptr<JobWatch> resumed = *service.WatchJob(auth::Caller(), resume);
      std::vector<v1::JobUpdate> joined(lagging_updates.begin(),
                                        lagging_updates.begin() + static_cast<long>(i) + 1);
      const std::vector<v1::JobUpdate> rest = Drain(*resumed);
      joined.insert(joined.end(), rest.begin(), rest.end());
      EXPECT_EQ(test_support::CollectSteps(joined), all) << "resumed after update " << i;
    }
    before = u.cursor();
  }
  training.jobs->Shutdown();
}

// A job whose end cannot be recorded (the data directory turned read-only) stays unfinished in
// the store until a restart. Its watchers, the one there before the fault and one that comes
// after, get every step that was recorded and then the reason, instead of waiting forever.
TEST(FanOutTest, AWatchOfAJobThatCanRecordNothingMoreEndsWithTheReason) {
  test_support::TurnsReadOnlyStore store(*store::Store::Open(":memory:"), 300);
  ThreadPool pool(2);
  test_support::JobStack training(store, /*workers=*/1);
  AblationService service(store, *training.jobs, training.hub, pool);
  v1::SubmitJobRequest submit;
  test_support::TinyModel wide;  // its steps come in several commits before the fault
  wide.width = 256;
  *submit.mutable_spec() = test_support::TinySpec(100000, wide);
  const v1::Job job = *service.SubmitJob(auth::Caller(), submit);
  v1::WatchJobRequest request;
  request.set_job_id(job.id());

  // Pulls updates until an error (or 60 s of silence, a failure): the steps and the error.
  auto drain_to_error = [](JobWatch& watch) {
    std::vector<v1::JobUpdate> updates;
    for (;;) {
      std::optional<absl::StatusOr<UpdatePtr>> next = NextOf(watch);
      if (!next) return std::make_pair(test_support::CollectSteps(updates), absl::OkStatus());
      absl::StatusOr<UpdatePtr>& update = *next;
      if (!update.ok()) return std::make_pair(test_support::CollectSteps(updates), update.status());
      EXPECT_FALSE((*update)->update().has_job_finished()) << "its end was never recorded";
      updates.push_back((*update)->update());
    }
  };
  std::unique_ptr<JobWatch> early = *service.WatchJob(auth::Caller(), request);
  auto [early_steps, early_error] = drain_to_error(*early);
  // The watch ends as the writer gives up on the job's end; the manager lets the job go just
  // after that.
  for (int i = 0; i < 200 && training.jobs->ActiveJobs() > 0; ++i) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(training.jobs->ActiveJobs(), 0);
  EXPECT_TRUE(absl::IsFailedPrecondition(early_error)) << early_error;
  EXPECT_THAT(std::string(early_error.message()),
              ::testing::AllOf(::testing::HasSubstr("the database cannot be written"),
                               ::testing::HasSubstr("when the server is restarted")));

  // Still running as far as the store knows; the job says why nothing moves.
  v1::GetJobRequest get;
  get.set_job_id(job.id());
  const v1::Job stopped = *service.GetJob(auth::Caller(), get);
  EXPECT_EQ(stopped.state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(stopped.error(), early_error.message());

  std::unique_ptr<JobWatch> late = *service.WatchJob(auth::Caller(), request);
  auto [late_steps, late_error] = drain_to_error(*late);
  EXPECT_EQ(late_error, early_error);
  const store::Trajectory recorded = *store.GetTrajectory(job.runs(0).id());
  EXPECT_GT(recorded.steps.size(), 0u);
  EXPECT_EQ(early_steps[job.runs(0).id()], recorded.losses);
  EXPECT_EQ(late_steps, early_steps);
  training.jobs->Shutdown();
}

}  // namespace
}  // namespace ablate::service
