// A portable, specified random number generator.
//
// The standard library's normal and uniform distributions are implementation-defined: the same
// seed gives different numbers under libstdc++ and libc++. Every random number in Ablate comes
// from this generator instead, so a job's trajectory is the same bit for bit on every build of
// the same code and flags.
#ifndef ABLATE_CORE_RANDOM_H_
#define ABLATE_CORE_RANDOM_H_

#include <cstdint>

namespace ablate::core {

// PCG32, "XSH RR 64/32" (M. E. O'Neill, "PCG: A Family of Simple Fast Space-Efficient
// Statistically Good Algorithms for Random Number Generation", 2014), with explicit transforms
// to uniform floats, bounded integers and normals. Not thread-safe: one generator per thread.
class Rng {
 public:
  // Everything that decides the numbers to come: a generator restored from it continues the
  // sequence exactly (checkpoints).
  struct State {
    uint64_t state = 0;
    uint64_t increment = 0;
    bool has_spare_normal = false;
    double spare_normal = 0.0;
  };

  // `stream` selects one of 2^63 independent sequences for the same seed, so one seed can feed
  // several purposes (data, shuffling) without their numbers overlapping.
  explicit Rng(uint64_t seed, uint64_t stream = 0);

  uint32_t NextU32();

  // Uniform in [0, 1): 24 random bits, so every float32 multiple of 2^-24 is equally likely.
  float Uniform01();

  // Uniform in [low, high). Requires low <= high.
  float Uniform(float low, float high);

  // Uniform integer in [0, n), without modulo bias (D. Lemire, "Fast Random Integer Generation
  // in an Interval", 2019). Requires n > 0.
  uint32_t Below(uint32_t n);

  // Standard normal N(0, 1), by the Box–Muller transform in double precision; the second value
  // of each pair is kept for the next call.
  float Normal();

  State GetState() const { return {state_, increment_, has_spare_normal_, spare_normal_}; }
  // Requires a state from GetState (its increment is odd).
  void SetState(const State& s) {
    state_ = s.state;
    increment_ = s.increment;
    has_spare_normal_ = s.has_spare_normal;
    spare_normal_ = s.spare_normal;
  }

 private:
  uint64_t state_;
  uint64_t increment_;
  bool has_spare_normal_ = false;
  double spare_normal_ = 0.0;
};

}  // namespace ablate::core

#endif  // ABLATE_CORE_RANDOM_H_
