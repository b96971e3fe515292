// Tests of core/analysis.h: the numbers a report derives from a loss trajectory.
#include "core/analysis.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/init.h"

namespace ablate::core {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(FirstNonFiniteTest, FindsTheFirstNaNOrInfinity) {
  EXPECT_EQ(FirstNonFinite(std::vector<float>{}), std::nullopt);
  EXPECT_EQ(FirstNonFinite(std::vector<float>{0.7f, 0.6f, 1e30f}), std::nullopt);
  EXPECT_EQ(FirstNonFinite(std::vector<float>{0.7f, 0.6f, 0.5f, kNaN, 0.4f, kNaN}), 3);
  EXPECT_EQ(FirstNonFinite(std::vector<float>{kInf, kNaN}), 0);
  EXPECT_EQ(FirstNonFinite(std::vector<float>{1, 2, -kInf}), 2);
}

// losses[i] = a + b·i, exact in float. The least-squares fit then recovers b to double
// precision (EXPECT_DOUBLE_EQ: within 4 ulps); .value() fails the test on nullopt.
std::vector<float> Line(int n, float a, float b) {
  std::vector<float> losses;
  for (int i = 0; i < n; ++i) losses.push_back(a + b * static_cast<float>(i));
  return losses;
}

TEST(TailSlopeTest, RecoversTheSlopeOfAnExactLine) {
  EXPECT_DOUBLE_EQ(TailSlope(Line(1000, 2.0f, -0.00048828125f), 200).value(),
                   -0.00048828125);  // −2⁻¹¹
  EXPECT_DOUBLE_EQ(TailSlope(Line(10, 5.0f, 0.25f), 5).value(), 0.25);
  EXPECT_DOUBLE_EQ(TailSlope(Line(10, 1.0f, 0.0f), 10).value(), 0.0);
  EXPECT_DOUBLE_EQ(TailSlope(Line(3, 1.0f, -1.0f), 2).value(), -1.0);
}

TEST(TailSlopeTest, UsesOnlyTheLastWindowLosses) {
  // Flat for 10 steps, then rising by 1 per step for 5: the last 5 have slope exactly 1.
  std::vector<float> losses(10, 3.0f);
  for (int i = 1; i <= 5; ++i) losses.push_back(3.0f + static_cast<float>(i));
  EXPECT_DOUBLE_EQ(TailSlope(losses, 5).value(), 1.0);
  EXPECT_DOUBLE_EQ(TailSlope(losses, 6).value(), 1.0);  // 3, 4, 5, 6, 7, 8 is still a line
  // Over all 15 the least-squares slope is smaller (computed independently below).
  const std::optional<double> all = TailSlope(losses, 15);
  ASSERT_TRUE(all.has_value());
  double mean_x = 7, mean_y = 0, sxy = 0, sxx = 0;
  for (float v : losses) mean_y += v;
  mean_y /= 15;
  for (int i = 0; i < 15; ++i) {
    sxy += (i - mean_x) * (losses[i] - mean_y);
    sxx += (i - mean_x) * (i - mean_x);
  }
  EXPECT_NEAR(*all, sxy / sxx, 1e-12);
  EXPECT_LT(*all, 0.5);
}

TEST(TailSlopeTest, WindowLargerThanTheDataUsesAllOfIt) {
  const std::vector<float> losses = Line(20, 1.0f, -0.125f);
  EXPECT_DOUBLE_EQ(TailSlope(losses, 1000).value(), -0.125);
  std::vector<float> bent = losses;
  bent[0] = 10.0f;  // only a window reaching step 0 sees this
  EXPECT_DOUBLE_EQ(TailSlope(bent, 19).value(), -0.125);
  EXPECT_EQ(TailSlope(bent, 1000), TailSlope(bent, 20));
  EXPECT_LT(*TailSlope(bent, 1000), -0.125);
}

TEST(TailSlopeTest, NothingWithFewerThanTwoPoints) {
  EXPECT_EQ(TailSlope(std::vector<float>{}, 200), std::nullopt);
  EXPECT_EQ(TailSlope(std::vector<float>{0.5f}, 200), std::nullopt);
  EXPECT_EQ(TailSlope(Line(10, 1, 1), 1), std::nullopt);
  EXPECT_EQ(TailSlope(Line(10, 1, 1), 0), std::nullopt);
  EXPECT_EQ(TailSlope(Line(10, 1, 1), -5), std::nullopt);
}

TEST(TailSlopeTest, NothingWhenTheWindowHoldsANonFiniteLoss) {
  std::vector<float> losses = Line(10, 1.0f, -0.0625f);
  losses[7] = kNaN;
  EXPECT_EQ(TailSlope(losses, 5), std::nullopt);
  losses[7] = kInf;
  EXPECT_EQ(TailSlope(losses, 5), std::nullopt);
  // A non-finite loss before the window does not matter.
  losses[7] = 1.0f - 0.0625f * 7;
  losses[2] = kNaN;
  EXPECT_DOUBLE_EQ(TailSlope(losses, 5).value(), -0.0625);
  EXPECT_EQ(TailSlope(losses, 8), std::nullopt);
}

TEST(FlatlineTest, ALossThatStaysAtChanceFlatlinesFromTheStartOfItsStretch) {
  const double chance = std::log(2.0);
  std::vector<float> losses;
  for (int i = 0; i < 30; ++i) losses.push_back(0.9f - 0.005f * static_cast<float>(i));
  for (int i = 0; i < 50; ++i)
    losses.push_back(static_cast<float>(chance) + (i % 2 ? 0.004f : -0.004f));
  EXPECT_EQ(FlatlineStep(losses, chance, 0.01, 20), 30);
  // Fewer than the window at chance is no flatline yet.
  EXPECT_EQ(FlatlineStep(std::span(losses).first(49), chance, 0.01, 20), std::nullopt);
  EXPECT_EQ(FlatlineStep(std::span(losses).first(50), chance, 0.01, 20), 30);
}

// Xavier at lab 1's defaults sits within 0.01 of chance for hundreds of steps before its loss
// falls: a stretch the loss leaves again is not a flatline.
TEST(FlatlineTest, AStretchAtChanceThatTheLossLeavesIsForgotten) {
  const double chance = std::log(2.0);
  std::vector<float> losses(100, static_cast<float>(chance));
  for (int i = 0; i < 50; ++i) losses.push_back(0.68f - 0.002f * static_cast<float>(i));
  EXPECT_EQ(FlatlineStep(losses, chance, 0.01, 20), std::nullopt);
  // A non-finite loss ends a stretch too.
  losses.assign(40, static_cast<float>(chance));
  losses.push_back(kNaN);
  EXPECT_EQ(FlatlineStep(losses, chance, 0.01, 20), std::nullopt);
}

TEST(FlatlineTest, StepByStepAgreesWithTheWholeTrajectory) {
  const double chance = std::log(2.0);
  std::vector<float> losses(25, 0.69f);
  losses.push_back(0.8f);
  losses.insert(losses.end(), 25, 0.695f);
  FlatlineState state;
  for (size_t i = 0; i < losses.size(); ++i) {
    TrackFlatline(state, static_cast<int>(i), losses[i], chance, 0.01, 20);
    EXPECT_EQ(state.flatline_step, FlatlineStep(std::span(losses).first(i + 1), chance, 0.01, 20))
        << "after step " << i;
  }
  EXPECT_EQ(state.flatline_step, 26);
}

TEST(StackedVarianceGainTest, IsGainToTheNumberOfLayers) {
  EXPECT_DOUBLE_EQ(StackedVarianceGain(2.0, 10), 1024.0);
  EXPECT_DOUBLE_EQ(StackedVarianceGain(0.5, 12), 1.0 / 4096.0);
  EXPECT_DOUBLE_EQ(StackedVarianceGain(1.0, 64), 1.0);
  EXPECT_DOUBLE_EQ(StackedVarianceGain(3.0, 0), 1.0);
}

TEST(StackedVarianceGainTest, ExplainsTheLabsThreeInits) {
  // Lab 1: 11 Linear+ReLU layers of fan-in 256 before the logits.
  const InitConfig uniform{.scheme = "uniform"};
  const double uniform_gain =
      StackedVarianceGain(ReluVarianceGain(*FindInitScheme("uniform"), 256, 256, uniform), 11);
  const double xavier_gain =
      StackedVarianceGain(ReluVarianceGain(*FindInitScheme("xavier"), 256, 256, {}), 11);
  const double kaiming_gain =
      StackedVarianceGain(ReluVarianceGain(*FindInitScheme("kaiming"), 256, 256, {}), 11);
  EXPECT_NEAR(uniform_gain, std::pow(256.0 / 24.0, 11), 1e-6 * uniform_gain);  // ≈ 2·10¹¹
  EXPECT_GT(uniform_gain, 1e11);
  EXPECT_DOUBLE_EQ(xavier_gain, 1.0 / 2048.0);
  EXPECT_DOUBLE_EQ(kaiming_gain, 1.0);
}

TEST(PercentileTest, NearestRankOfUnsortedValues) {
  const std::vector<float> values = {5, 1, 4, 2, 3, 10, 9, 8, 7, 6};
  EXPECT_EQ(Percentile(values, 50), 5);   // rank ceil(5) = 5
  EXPECT_EQ(Percentile(values, 95), 10);  // rank ceil(9.5) = 10
  EXPECT_EQ(Percentile(values, 10), 1);
  EXPECT_EQ(Percentile(values, 11), 2);   // rank ceil(1.1) = 2
  EXPECT_EQ(Percentile(values, 100), 10);
  EXPECT_EQ(Percentile({7.5f}, 50), 7.5);
}

TEST(PercentileTest, EmptyInputIsZeroNotAnOutOfRangeRead) {
  EXPECT_EQ(Percentile({}, 50), 0);
  EXPECT_EQ(Percentile({}, 98), 0);
}

}  // namespace
}  // namespace ablate::core
