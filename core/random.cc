#include "core/random.h"

#include <cmath>
#include <numbers>

namespace ablate::core {

namespace {
constexpr uint64_t kMultiplier = 6364136223846793005ULL;
}  // namespace

// Seeding follows pcg32_srandom_r from the reference implementation (pcg-random.org).
Rng::Rng(uint64_t seed, uint64_t stream) : state_(0), increment_((stream << 1u) | 1u) {
  NextU32();
  state_ += seed;
  NextU32();
}

uint32_t Rng::NextU32() {
  const uint64_t old = state_;
  state_ = old * kMultiplier + increment_;
  const auto xorshifted = static_cast<uint32_t>(((old >> 18u) ^ old) >> 27u);
  const auto rot = static_cast<uint32_t>(old >> 59u);
  return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

float Rng::Uniform01() { return static_cast<float>(NextU32() >> 8) * 0x1.0p-24f; }

float Rng::Uniform(float low, float high) {
  // In float, low + (high - low)·u can round up to exactly `high` when the width itself rounds
  // up; such a draw is moved to the largest float below `high` to keep the range half-open.
  const float value = low + (high - low) * Uniform01();
  return value < high ? value : std::nextafter(high, low);
}

uint32_t Rng::Below(uint32_t n) {
  uint64_t product = static_cast<uint64_t>(NextU32()) * n;
  auto low = static_cast<uint32_t>(product);
  if (low < n) {
    const uint32_t threshold = (-n) % n;
    while (low < threshold) {
      product = static_cast<uint64_t>(NextU32()) * n;
      low = static_cast<uint32_t>(product);
    }
  }
  return static_cast<uint32_t>(product >> 32);
}

float Rng::Normal() {
  if (has_spare_normal_) {
    has_spare_normal_ = false;
    return static_cast<float>(spare_normal_);
  }
  // u1 in (0, 1] so the logarithm is finite; 53-bit doubles from two draws.
  auto draw53 = [this] {
    const uint64_t hi = NextU32() >> 5;  // 27 bits
    const uint64_t lo = NextU32() >> 6;  // 26 bits
    return static_cast<double>((hi << 26) | lo) * 0x1.0p-53;
  };
  const double u1 = 1.0 - draw53();
  const double u2 = draw53();
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * std::numbers::pi * u2;
  spare_normal_ = radius * std::sin(angle);
  has_spare_normal_ = true;
  return static_cast<float>(radius * std::cos(angle));
}

}  // namespace ablate::core
