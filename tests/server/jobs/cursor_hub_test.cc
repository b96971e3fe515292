// The cursor hub: a wait fires at the job's first commit after its cursor, and a halted job
// (one whose end cannot be recorded) wakes its waiters and takes no new wait it cannot serve.
#include "server/jobs/cursor_hub.h"

#include <gtest/gtest.h>

#include <vector>

namespace ablate::jobs {
namespace {

void Publish(CursorHub& hub, int64_t job_id, uint64_t cursor) {
  const std::vector<store::JobCursor> cursors{{.job_id = job_id, .cursor = cursor}};
  hub.Publish(cursors, CursorHub::Time{});
}

TEST(CursorHubTest, AWaitFiresAtTheFirstCommitAfterItsCursor) {
  CursorHub hub;
  int woken = 0;
  EXPECT_NE(hub.WaitAfter(1, 5, [&](CursorHub::Time) { ++woken; }), 0u);
  Publish(hub, 1, 5);
  Publish(hub, 2, 9);
  EXPECT_EQ(woken, 0);
  Publish(hub, 1, 6);
  EXPECT_EQ(woken, 1);
  hub.WaitAfter(1, 3, [&](CursorHub::Time) { ++woken; });  // already there: at once
  EXPECT_EQ(woken, 2);
  const uint64_t ticket = hub.WaitAfter(1, 6, [&](CursorHub::Time) { ++woken; });
  EXPECT_TRUE(hub.Cancel(ticket));
  Publish(hub, 1, 7);
  EXPECT_EQ(woken, 2);
  EXPECT_TRUE(hub.Halted(1, 7).ok());
}

TEST(CursorHubTest, AHaltedJobWakesItsWaitersAndIsReportedToThoseWithEverything) {
  CursorHub hub;
  Publish(hub, 1, 10);
  int woken = 0, other = 0;
  hub.WaitAfter(1, 10, [&](CursorHub::Time) { ++woken; });
  hub.WaitAfter(2, 0, [&](CursorHub::Time) { ++other; });
  hub.Halt(1, absl::ResourceExhaustedError("the database is full"));
  EXPECT_EQ(woken, 1) << "its waiters are woken to find out";
  EXPECT_EQ(other, 0) << "another job's are not";

  // A watcher behind the last commit still has something to read; one at it has everything.
  EXPECT_TRUE(hub.Halted(1, 9).ok());
  EXPECT_TRUE(absl::IsResourceExhausted(hub.Halted(1, 10)));
  EXPECT_EQ(hub.Halted(1, 10).message(), "the database is full");
  EXPECT_TRUE(hub.Halted(2, 0).ok());

  // Nothing can come after the last commit: such a wait is not taken, and never fires.
  EXPECT_EQ(hub.WaitAfter(1, 10, [&](CursorHub::Time) { ++woken; }), 0u);
  hub.WaitAfter(1, 9, [&](CursorHub::Time) { ++woken; });  // this one has a commit to see
  EXPECT_EQ(woken, 2);

  // Should its end be recorded after all, a watcher at the old last commit has that to read.
  Publish(hub, 1, 11);
  EXPECT_TRUE(hub.Halted(1, 10).ok());
}

}  // namespace
}  // namespace ablate::jobs
