#include "server/service/downsample.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace ablate::service {
namespace {

TEST(DownsampleTest, KeepsEverythingWhenAskedOrSmall) {
  const std::vector<float> losses = {3, 2, 1};
  EXPECT_EQ(DownsampleIndices(losses, 0), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(DownsampleIndices(losses, 10), (std::vector<int32_t>{0, 1, 2}));
}

TEST(DownsampleTest, BoundsThePointCountAndKeepsEnds) {
  std::vector<float> losses(10000);
  for (size_t i = 0; i < losses.size(); ++i) losses[i] = 1.0f / (1.0f + i);
  const std::vector<int32_t> kept = DownsampleIndices(losses, 300);
  EXPECT_LE(kept.size(), 301u);
  EXPECT_GE(kept.size(), 100u);
  EXPECT_EQ(kept.front(), 0);
  EXPECT_EQ(kept.back(), 9999);
  EXPECT_TRUE(std::is_sorted(kept.begin(), kept.end()));
  EXPECT_EQ(std::adjacent_find(kept.begin(), kept.end()), kept.end());
}

TEST(DownsampleTest, KeepsASpikeAndADip) {
  std::vector<float> losses(5000, 0.5f);
  losses[1234] = 40.0f;
  losses[4321] = 0.001f;
  const std::vector<int32_t> kept = DownsampleIndices(losses, 30);
  EXPECT_NE(std::find(kept.begin(), kept.end(), 1234), kept.end());
  EXPECT_NE(std::find(kept.begin(), kept.end(), 4321), kept.end());
}

TEST(DownsampleTest, KeepsTheFirstNonFiniteStep) {
  std::vector<float> losses(5000, 0.7f);
  for (size_t i = 2345; i < losses.size(); ++i) {
    losses[i] = std::numeric_limits<float>::quiet_NaN();
  }
  losses[100] = 1e30f;  // a finite spike before it must not hide it
  const std::vector<int32_t> kept = DownsampleIndices(losses, 30);
  EXPECT_NE(std::find(kept.begin(), kept.end(), 2345), kept.end());
  EXPECT_LE(kept.size(), 31u);  // the NaN tail is thinned like any other
}

}  // namespace
}  // namespace ablate::service
