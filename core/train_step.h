// One training step of an Mlp (forward, softmax cross-entropy, backward, weight-gradient norm,
// SGD-momentum update) in two implementations that give the same bits: the reference, which
// calls the modules one after the other as a reader expects, and the fused path, which does the
// same arithmetic in an order of memory accesses that keeps each layer's data in cache.
#ifndef ABLATE_CORE_TRAIN_STEP_H_
#define ABLATE_CORE_TRAIN_STEP_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/model.h"
#include "core/optim.h"
#include "core/tensor.h"

namespace ablate::core {

enum class StepPath {
  // Mlp::Forward, SoftmaxCrossEntropy, Mlp::Backward, Mlp::WeightGradNorm, SgdMomentum::Step:
  // each a pass over the whole model.
  kReference,
  // The same operations on every number, in the same order, rearranged around the GEMMs: bias
  // and ReLU, and the ReLU mask of the backward pass, applied by the products to their output
  // as it is finished (core/gemm.h); each layer's weight gradient written to one scratch
  // buffer, then summed into the norm and applied by the optimizer while it is still in cache.
  // The layers' own weight_grad are left untouched.
  kFused,
};

// The path core::Trainer steps with (its constructor can be told another). This constant is the
// one switch: the two paths give identical bits (tests/core/train_step_test.cc), so changing it
// changes speed only.
inline constexpr StepPath kDefaultStepPath = StepPath::kFused;

// The parts of a step that StepProfile times. Each path reports its own subset.
enum class StepPhase {
  kForwardGemm,          // fused: the forward products, with hidden layers' bias and ReLU
  kForwardElementwise,   // fused: the logits' bias
  kForward,              // reference: the whole forward pass
  kLoss,                 // both: softmax cross-entropy and its gradient
  kBackwardGemm,         // fused: weight- and input-gradient products, the latter with the
                         // ReLU mask
  kBackwardElementwise,  // fused: bias gradients
  kBackward,             // reference: the whole backward pass
  kNorm,                 // reference: the weight-gradient norm
  kUpdate,               // reference: the optimizer
  kUpdateAndNorm,        // fused: the optimizer and the norm, in one pass per layer
};
inline constexpr int kStepPhaseCount = 10;

// "forward GEMMs", "update", …
std::string_view StepPhaseName(StepPhase phase);

// Wall time spent in each phase, added up over the steps it was attached to.
struct StepProfile {
  std::array<double, kStepPhaseCount> seconds{};
  double& operator[](StepPhase phase) { return seconds[static_cast<int>(phase)]; }
  double operator[](StepPhase phase) const { return seconds[static_cast<int>(phase)]; }
};

// Runs steps of `model` with `optimizer` on batches of ws.batch() examples. Borrows all three,
// which must outlive it; `optimizer` must be built on `model`. Allocates nothing per step.
// Not thread-safe.
class TrainStep {
 public:
  TrainStep(Mlp& model, SgdMomentum& optimizer, Workspace& ws, StepPath path);

  StepPath path() const { return path_; }

  // The forward pass of x (input_dim × ws.batch()) and the mean cross-entropy against `labels`
  // (ws.batch() values); leaves dL/dlogits in the workspace for BackwardAndUpdate. Returns the
  // loss, non-finite when the logits are.
  float ForwardAndLoss(const Matrix& x, std::span<const int32_t> labels);

  // Back-propagates the last ForwardAndLoss (given the same x), applies the optimizer's update,
  // and returns the L2 norm of the weight gradients (Mlp::WeightGradNorm's value).
  double BackwardAndUpdate(const Matrix& x);

  // Σ dW² of each layer's weight gradient in the last BackwardAndUpdate, in layer order: the
  // squares of the per-layer gradient norms, which add up (in this order) to the square of the
  // norm it returned. Both paths give the same bits. Zeros before the first step.
  std::span<const double> LayerSquaredSums() const { return squared_sums_; }

  // Adds the time of each phase of the following steps into *profile; null (the default) stops.
  // Timing reads the clock about ten times per layer and step.
  void set_profile(StepProfile* profile) { profile_ = profile; }

 private:
  using Clock = std::chrono::steady_clock;

  // Profile bookkeeping: Start() before a pass, Mark(phase) at the end of each phase of it.
  void Start();
  void Mark(StepPhase phase);

  const Matrix& ForwardFused(const Matrix& x);
  double BackwardAndUpdateFused(const Matrix& x);

  Mlp& model_;
  SgdMomentum& optimizer_;
  Workspace& ws_;
  StepPath path_;
  Vector weight_grad_;                // fused path: dW of the layer being back-propagated
  std::vector<double> squared_sums_;  // Σ dW² per layer of the last step, in layer order
  StepProfile* profile_ = nullptr;
  Clock::time_point mark_;
};

}  // namespace ablate::core

#endif  // ABLATE_CORE_TRAIN_STEP_H_
