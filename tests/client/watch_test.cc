#include "client/watch.h"

#include <gtest/gtest.h>

#include "absl/time/time.h"

// WatchJob itself runs against a fake server in cli_test.cc (resumption, restarts, giving up).

namespace ablate::client {
namespace {

TEST(Backoff, DoublesFromTheFirstWaitUpToTheLast) {
  Backoff backoff(absl::Milliseconds(200), absl::Seconds(2));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(200));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(400));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(800));
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(1600));
  EXPECT_EQ(backoff.Next(), absl::Seconds(2));
  EXPECT_EQ(backoff.Next(), absl::Seconds(2));
}

TEST(Backoff, ResetStartsOver) {
  Backoff backoff(absl::Milliseconds(200), absl::Seconds(2));
  backoff.Next();
  backoff.Next();
  backoff.Reset();
  EXPECT_EQ(backoff.Next(), absl::Milliseconds(200));
}

TEST(WatchOptions, DefaultsMatchTheHelp) {
  const WatchOptions options;
  EXPECT_EQ(options.reconnect_timeout, absl::Seconds(60));
  EXPECT_EQ(options.initial_backoff, absl::Milliseconds(200));
  EXPECT_EQ(options.max_backoff, absl::Seconds(2));
}

}  // namespace
}  // namespace ablate::client
