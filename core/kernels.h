// The elementwise loops of the training step that both step paths run (core/train_step.h): the
// reference's Mlp::WeightGradNorm and SgdMomentum::Step, and the fused path's one pass that does
// both. Sharing the code, not just the formula, is what makes the two paths' bits equal: the
// compiler makes the same choices (vector width, fused multiply-adds) for the same source.
// Internal to the core.
#ifndef ABLATE_CORE_KERNELS_H_
#define ABLATE_CORE_KERNELS_H_

#include "core/tensor.h"

namespace ablate::core::kernels {

// Σ v² over n floats is summed in double in kSquareLanes independent partial sums, so that the
// compiler keeps them in vector registers instead of waiting on one dependent add per element;
// then the last n mod kSquareLanes squares and the partial sums are added in order.
inline constexpr int kSquareLanes = 32;

// partial[k] += v[j·kSquareLanes + k]², in double, for j = 0 … groups-1.
inline void AddSquares(const float* v, Eigen::Index groups, double* partial) {
  for (Eigen::Index j = 0; j < groups; ++j, v += kSquareLanes) {
    for (int k = 0; k < kSquareLanes; ++k) {
      const double x = v[k];
      partial[k] += x * x;
    }
  }
}

// The sum: the squares of tail[0 … n-1] (fewer than kSquareLanes) in order, then the partials.
inline double FinishSquares(const float* tail, Eigen::Index n, const double* partial) {
  double sum = 0;
  for (Eigen::Index i = 0; i < n; ++i) sum += static_cast<double>(tail[i]) * tail[i];
  for (int k = 0; k < kSquareLanes; ++k) sum += partial[k];
  return sum;
}

// SGD with momentum is applied in chunks of at most this many floats: v is still in L1 for its
// second use. A multiple of kSquareLanes, so that a pass can sum squares chunk by chunk.
inline constexpr Eigen::Index kUpdateChunk = 1024;  // 3 arrays × 4 KiB
static_assert(kUpdateChunk % kSquareLanes == 0);

// v ← μ·v + g;  p ← p − lr·v over one chunk of n ≤ kUpdateChunk floats.
inline void MomentumChunk(float* p, float* v, const float* g, Eigen::Index n, float lr,
                          float momentum) {
  Eigen::Map<Eigen::ArrayXf> velocity(v, n), param(p, n);
  Eigen::Map<const Eigen::ArrayXf> grad(g, n);
  velocity = momentum * velocity + grad;
  param -= lr * velocity;
}

// Hints n floats from p into L2, one request per 64-byte line. Only a hint (prefetcht1 on x86):
// no value changes, and a line evicted before its use is simply read again.
inline void PrefetchToL2(const float* p, Eigen::Index n) {
  constexpr Eigen::Index kLine = 64 / sizeof(float);
  for (Eigen::Index i = 0; i < n; i += kLine) __builtin_prefetch(p + i, /*rw=*/0, /*locality=*/2);
}

}  // namespace ablate::core::kernels

#endif  // ABLATE_CORE_KERNELS_H_
