// Live fan-out: many watchers of one job cost the store about one read per commit between
// them, not one each, and every watcher still receives every step exactly once.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "server/service/service.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/job_specs.h"
#include "tests/support/job_stack.h"
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
  absl::StatusOr<v1::JobUpdate> ReadUpdate(int64_t job_id, uint64_t after,
                                           int max_events) override {
    ++reads;
    return ForwardingStore::ReadUpdate(job_id, after, max_events);
  }
  std::atomic<int> appends{0};
  std::atomic<int> reads{0};
};

// Pulls every update of a watch until the job's end; empty after an error or 60 s of silence.
std::vector<v1::JobUpdate> Drain(JobWatch& watch) {
  std::vector<v1::JobUpdate> updates;
  for (;;) {
    std::promise<absl::StatusOr<UpdatePtr>> next;
    watch.Next([&](absl::StatusOr<UpdatePtr> u) { next.set_value(std::move(u)); });
    std::future<absl::StatusOr<UpdatePtr>> future = next.get_future();
    if (future.wait_for(60s) != std::future_status::ready) {
      ADD_FAILURE() << "no update within 60 s";
      return {};
    }
    absl::StatusOr<UpdatePtr> update = future.get();
    if (!update.ok()) {
      ADD_FAILURE() << update.status();
      return {};
    }
    updates.push_back((*update)->update());
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
  std::vector<std::thread> watchers;
  for (int i = 0; i < kWatchers; ++i) {
    absl::StatusOr<std::unique_ptr<JobWatch>> watch = service.WatchJob(auth::Caller(), request);
    ASSERT_TRUE(watch.ok()) << watch.status();
    watchers.emplace_back([&received, i, watch = *std::move(watch)] {
      received[i] = test_support::CollectSteps(Drain(*watch));
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

}  // namespace
}  // namespace ablate::service
