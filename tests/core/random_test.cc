// Tests of core/random.h: PCG32 against its reference outputs, and the statistics of every
// transform. Statistical tolerances are ~5 standard errors, on fixed seeds.
#include "core/random.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

namespace ablate::core {
namespace {

constexpr int kDraws = 100000;

TEST(RngTest, MatchesPcg32ReferenceOutputs) {
  // pcg32-demo from pcg-c-basic (pcg-random.org): pcg32_srandom_r(&rng, 42u, 54u) and then
  // pcg32_random_r prints these six numbers first.
  constexpr std::array<uint32_t, 6> kReference = {0xa15c02b7, 0x7b47f409, 0xba1d3330,
                                                  0x83d2f293, 0xbfa4784b, 0xcbed606e};
  Rng rng(42, 54);
  for (size_t i = 0; i < kReference.size(); ++i) {
    EXPECT_EQ(rng.NextU32(), kReference[i]) << "output " << i;
  }
}

TEST(RngTest, SameSeedAndStreamGiveSameSequence) {
  Rng a(7, 3);
  Rng b(7, 3);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(a.NextU32(), b.NextU32()) << "draw " << i;
  }
  // The transforms are deterministic too, including the spare value kept by Normal().
  for (int i = 0; i < 1001; ++i) {
    ASSERT_EQ(a.Normal(), b.Normal()) << "normal " << i;
    ASSERT_EQ(a.Uniform01(), b.Uniform01()) << "uniform " << i;
    ASSERT_EQ(a.Below(1000), b.Below(1000)) << "below " << i;
  }
}

// Number of positions at which the first 1000 outputs of two generators agree. Two
// independent streams agree at a given position with probability 2^-32.
int Agreements(Rng a, Rng b) {
  int same = 0;
  for (int i = 0; i < 1000; ++i) same += a.NextU32() == b.NextU32();
  return same;
}

TEST(RngTest, DifferentSeedsGiveDifferentSequences) {
  EXPECT_EQ(Agreements(Rng(1), Rng(2)), 0);
  EXPECT_EQ(Agreements(Rng(0), Rng(1)), 0);
  EXPECT_EQ(Agreements(Rng(101), Rng(102)), 0);
}

TEST(RngTest, DifferentStreamsGiveDifferentSequences) {
  EXPECT_EQ(Agreements(Rng(1, 0), Rng(1, 1)), 0);
  EXPECT_EQ(Agreements(Rng(1, 1), Rng(1, 2)), 0);
}

TEST(RngTest, Uniform01IsInUnitIntervalWithMeanHalfAndVarianceTwelfth) {
  Rng rng(2024);
  double sum = 0, sum_sq = 0;
  float lowest = 1, highest = 0;
  for (int i = 0; i < kDraws; ++i) {
    const float u = rng.Uniform01();
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    lowest = std::min(lowest, u);
    highest = std::max(highest, u);
    sum += u;
    sum_sq += static_cast<double>(u) * u;
  }
  const double mean = sum / kDraws;
  const double variance = sum_sq / kDraws - mean * mean;
  EXPECT_NEAR(mean, 0.5, 0.005);  // standard error 0.29/sqrt(1e5) ≈ 0.0009
  EXPECT_NEAR(variance, 1.0 / 12.0, 0.002);
  // It covers the interval: 1e5 draws leave no gap of 1e-3 at either end.
  EXPECT_LT(lowest, 1e-3f);
  EXPECT_GT(highest, 1.0f - 1e-3f);
}

TEST(RngTest, Uniform01HasTwentyFourBitResolution) {
  // Every value is a multiple of 2^-24, so scaling by 2^24 gives an integer.
  Rng rng(5);
  for (int i = 0; i < 1000; ++i) {
    const float scaled = rng.Uniform01() * 0x1.0p24f;
    ASSERT_EQ(scaled, std::floor(scaled));
  }
}

TEST(RngTest, UniformRespectsItsBounds) {
  Rng rng(11);
  double sum = 0;
  for (int i = 0; i < kDraws; ++i) {
    const float x = rng.Uniform(-2.0f, 3.0f);
    ASSERT_GE(x, -2.0f);
    ASSERT_LT(x, 3.0f);
    sum += x;
  }
  EXPECT_NEAR(sum / kDraws, 0.5, 0.025);  // standard error 1.44/sqrt(1e5) ≈ 0.0046
}

TEST(RngTest, UniformNeverReturnsHighEvenWhenTheWidthRoundsUp) {
  // random.h promises [low, high). In float, high - low for (-0.5, -0.4) rounds up to
  // 0.100000024, so low + (high - low) * u reaches high for the largest u (1 - 2^-24). The
  // seed-0 stream draws such a u at draw 1736208, within this loop.
  Rng rng(0);
  const float low = -0.5f, high = -0.4f;
  int at_or_above_high = 0;
  for (int i = 0; i < 2000000; ++i) {
    at_or_above_high += rng.Uniform(low, high) >= high;
  }
  EXPECT_EQ(at_or_above_high, 0);
}

TEST(RngTest, BelowStaysInRangeAndIsRoughlyUniform) {
  Rng rng(99);
  constexpr uint32_t kBuckets = 10;
  std::array<int, kBuckets> counts{};
  for (int i = 0; i < kDraws; ++i) {
    const uint32_t k = rng.Below(kBuckets);
    ASSERT_LT(k, kBuckets);
    ++counts[k];
  }
  // Each bucket expects 1e4 with standard deviation ~95.
  for (uint32_t k = 0; k < kBuckets; ++k) {
    EXPECT_NEAR(counts[k], kDraws / kBuckets, 500) << "bucket " << k;
  }
  // Chi-square with 9 degrees of freedom: its 99.99th percentile is ~33.7.
  double chi_square = 0;
  for (int c : counts) {
    const double expected = static_cast<double>(kDraws) / kBuckets;
    chi_square += (c - expected) * (c - expected) / expected;
  }
  EXPECT_LT(chi_square, 33.7);
}

TEST(RngTest, BelowOneIsAlwaysZero) {
  Rng rng(3);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(rng.Below(1), 0u);
}

TEST(RngTest, BelowIsUnbiasedForLargeBounds) {
  // For n = 3·2^30, a plain NextU32() % n would put the lower third of the range at twice the
  // density of the rest (mean n·5/12 rather than n/2). Lemire's method rejects instead.
  Rng rng(17);
  constexpr uint32_t kN = 3u << 30;
  double sum = 0;
  int lower_third = 0;
  for (int i = 0; i < kDraws; ++i) {
    const uint32_t k = rng.Below(kN);
    ASSERT_LT(k, kN);
    sum += static_cast<double>(k) / kN;
    lower_third += k < kN / 3;
  }
  EXPECT_NEAR(sum / kDraws, 0.5, 0.005);
  EXPECT_NEAR(static_cast<double>(lower_third) / kDraws, 1.0 / 3.0, 0.01);
}

TEST(RngTest, NormalHasZeroMeanAndUnitVariance) {
  Rng rng(123);
  double sum = 0, sum_sq = 0, sum_4 = 0;
  int within_one = 0;
  for (int i = 0; i < kDraws; ++i) {
    const double x = rng.Normal();
    ASSERT_TRUE(std::isfinite(x));
    sum += x;
    sum_sq += x * x;
    sum_4 += x * x * x * x;
    within_one += std::abs(x) < 1.0;
  }
  const double mean = sum / kDraws;
  const double variance = sum_sq / kDraws - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.015);           // standard error 0.0032
  EXPECT_NEAR(variance, 1.0, 0.025);       // standard error sqrt(2/1e5) ≈ 0.0045
  EXPECT_NEAR(sum_4 / kDraws, 3.0, 0.15);  // fourth moment of N(0,1); standard error ≈ 0.03
  // P(|X| < 1) = 0.6827 for a standard normal; standard error 0.0015.
  EXPECT_NEAR(static_cast<double>(within_one) / kDraws, 0.6827, 0.008);
}

TEST(RngTest, NormalPairsAreUncorrelated) {
  // Box–Muller returns two values per pair of uniforms; they must be independent.
  Rng rng(8);
  double sum_product = 0;
  for (int i = 0; i < kDraws / 2; ++i) {
    const double a = rng.Normal();
    const double b = rng.Normal();
    sum_product += a * b;
  }
  EXPECT_NEAR(sum_product / (kDraws / 2), 0.0, 0.025);  // standard error 0.0045
}

}  // namespace
}  // namespace ablate::core
