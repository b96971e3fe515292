// The event writer's queue is bounded: training that outruns the store waits for it, rather than
// queueing every step in memory (a tiny model's job took the server to 1 GB that way).
#include "server/jobs/event_writer.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <variant>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "server/store/store.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/temp_dir.h"

namespace ablate::jobs {
namespace {

using namespace std::chrono_literals;

// Holds every commit until Open(), then counts what it is given (and stores nothing).
class GatedStore final : public test_support::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  absl::StatusOr<std::vector<store::JobCursor>> Append(
      std::span<const store::Event> events) override {
    gate_.WaitForNotification();
    steps_ += StepsIn(events);
    return std::vector<store::JobCursor>{};
  }
  void Open() { gate_.Notify(); }
  int64_t steps() const { return steps_; }

 private:
  absl::Notification gate_;
  std::atomic<int64_t> steps_{0};
};

TEST(EventWriterTest, ARunThatOutrunsTheStoreWaitsForItAndOthersDoNot) {
  test_support::TempDir dir("ablate_event_writer");
  GatedStore store(*store::Store::Open(dir.File("ablate.db")));
  CursorHub hub;
  constexpr int64_t kLimit = 512;  // the run's backlog (--max-run-backlog)
  constexpr int64_t kSteps = 4 * kLimit;
  std::atomic<int64_t> posted{0};
  {
    EventWriter writer(store, hub, nullptr, kLimit);
    writer.Post(store::RunStartedEvent{1, absl::Now()});
    std::thread training([&] {
      for (int64_t i = 0; i < kSteps; ++i) {
        writer.Post(store::StepEvent{1, static_cast<int32_t>(i), 0.5f, 1.0f, 0.001f});
        posted.fetch_add(1);
      }
      // Lifecycle events never wait, even behind a full queue.
      writer.Post(store::RunFinishedEvent{});
    });
    // The store holds its first commit: the run's queue fills, and then its training waits.
    int64_t seen = -1;
    for (int i = 0; i < 200 && seen != posted.load(); ++i) {
      seen = posted.load();
      std::this_thread::sleep_for(20ms);
    }
    const int64_t stalled = posted.load();
    EXPECT_LT(stalled, kSteps) << "every step was queued while the store took none";
    // What the writer took into the held commit (the window's few steps) plus a full queue.
    EXPECT_LE(stalled, 2 * kLimit);
    EXPECT_GE(stalled, kLimit);
    const auto stalled_at = std::chrono::steady_clock::now();
    // Another run's steps do not wait behind that backlog.
    absl::Notification other_posted;
    std::thread other([&] {
      for (int i = 0; i < 100; ++i) writer.Post(store::StepEvent{2, i, 0.5f, 1.0f, 0.001f});
      other_posted.Notify();
    });
    EXPECT_TRUE(other_posted.WaitForNotificationWithTimeout(absl::Seconds(10)))
        << "run 2 waited for run 1's queue";
    std::this_thread::sleep_for(100ms);
    // The training has waited at least since it was seen stalled (a wait is counted when it ends).
    const double held = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                      stalled_at).count();
    store.Open();
    other.join();
    training.join();
    writer.Flush();
    EXPECT_EQ(store.steps(), kSteps + 100) << "a step was lost on the way";
    EXPECT_GE(writer.StoreWaitSeconds(), held)
        << "the training's wait for the store went uncounted";
  }
}

}  // namespace
}  // namespace ablate::jobs
