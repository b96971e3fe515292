#include "core/train_step.h"

#include <algorithm>
#include <cmath>

#include "core/gemm.h"
#include "core/loss.h"

namespace ablate::core {

std::string_view StepPhaseName(StepPhase phase) {
  switch (phase) {
    case StepPhase::kForwardGemm:
      return "forward GEMMs (with bias and ReLU)";
    case StepPhase::kForwardElementwise:
      return "forward elementwise (the logits' bias)";
    case StepPhase::kForward:
      return "forward (GEMMs and elementwise)";
    case StepPhase::kLoss:
      return "loss (softmax cross-entropy)";
    case StepPhase::kBackwardGemm:
      return "backward GEMMs (with the ReLU mask)";
    case StepPhase::kBackwardElementwise:
      return "bias gradients";
    case StepPhase::kBackward:
      return "backward (GEMMs and elementwise)";
    case StepPhase::kNorm:
      return "weight-gradient norm";
    case StepPhase::kUpdate:
      return "update (SGD momentum)";
    case StepPhase::kUpdateAndNorm:
      return "update and weight-gradient norm";
  }
  return "unknown";
}

TrainStep::TrainStep(Mlp& model, SgdMomentum& optimizer, Workspace& ws, StepPath path)
    : model_(model),
      optimizer_(optimizer),
      ws_(ws),
      path_(path),
      squared_sums_(model.layers().size()) {
  if (path_ == StepPath::kFused) {
    Eigen::Index largest = 0;
    for (const Linear& layer : model.layers()) largest = std::max(largest, layer.weight.size());
    weight_grad_.resize(largest);
  }
}

void TrainStep::Start() {
  if (profile_ != nullptr) mark_ = Clock::now();
}

void TrainStep::Mark(StepPhase phase) {
  if (profile_ == nullptr) return;
  const Clock::time_point now = Clock::now();
  (*profile_)[phase] += std::chrono::duration<double>(now - mark_).count();
  mark_ = now;
}

float TrainStep::ForwardAndLoss(const Matrix& x, std::span<const int32_t> labels) {
  Start();
  const Matrix* logits;
  if (path_ == StepPath::kFused) {
    logits = &ForwardFused(x);
  } else {
    logits = &model_.Forward(x, ws_);
    Mark(StepPhase::kForward);
  }
  const float loss = SoftmaxCrossEntropy(*logits, labels, &ws_.dlogits);
  Mark(StepPhase::kLoss);
  return loss;
}

double TrainStep::BackwardAndUpdate(const Matrix& x) {
  Start();
  if (path_ == StepPath::kFused) return BackwardAndUpdateFused(x);
  model_.Backward(x, ws_.dlogits, ws_);
  Mark(StepPhase::kBackward);
  const double norm = model_.WeightGradNorm();
  // The per-layer sums WeightGradNorm adds up, kept for LayerSquaredSums.
  const auto& layers = model_.layers();
  for (size_t i = 0; i < layers.size(); ++i) {
    squared_sums_[i] = SquaredSum(layers[i].weight_grad.data(), layers[i].weight_grad.size());
  }
  Mark(StepPhase::kNorm);
  optimizer_.Step();
  Mark(StepPhase::kUpdate);
  return norm;
}

// The fused path. Against the reference (Mlp::Forward and Mlp::Backward in model.cc, then
// Mlp::WeightGradNorm and SgdMomentum::Step), every float goes through the same operations in
// the same order, so the results are the same bits; what changes is when each pass runs and
// which buffer it writes:
//   - the GEMMs are the same products with the same shapes; a hidden layer's bias and ReLU, and
//     the ReLU mask on a layer's input gradient, are applied by the product to its tiles as they
//     are finished (core/gemm.h), so the output is written once and not read back;
//   - no pre-activation is kept for hidden layers, because ReLU's mask (pre > 0) equals
//     (post > 0) for every float, NaN and -0 included;
//   - a layer's dW goes to one scratch buffer that one pass (SgdMomentum::StepLayerAndSquaredSum,
//     the same kernels as WeightGradNorm and Step) sums and applies right away, while it is in
//     L2, instead of 3 MB of per-layer gradients written during the backward pass and read
//     back twice from farther away (applying the update inside the dW product instead, as its
//     tiles are finished, measured 0.07–0.12 ms a step slower on an AVX-512 EPYC);
//   - the norm's per-layer sums are kept and added up in layer order, as WeightGradNorm does;
//   - a layer's input gradient (the last use of its weights) is computed before its weight
//     gradient, so that dW is the freshest data in L2 when the update reads it.

// x: (input_dim, B) → logits (classes, B).  For each layer i:
//   hidden:  post[i] = max(W_i · in + b_i·1ᵀ, 0)   (width, B)
//   last:    pre[last] = W · in + b·1ᵀ             (classes, B)
const Matrix& TrainStep::ForwardFused(const Matrix& x) {
  auto& layers = model_.layers();
  const size_t last = layers.size() - 1;
  const Matrix* input = &x;
  for (size_t i = 0; i < last; ++i) {
    gemm::ProductAddBiasRelu(layers[i].weight, *input, layers[i].bias, ws_.post[i]);
    Mark(StepPhase::kForwardGemm);
    input = &ws_.post[i];
  }
  Matrix& logits = ws_.pre[last];
  gemm::Product(layers[last].weight, *input, logits);
  Mark(StepPhase::kForwardGemm);
  logits.colwise() += layers[last].bias;
  Mark(StepPhase::kForwardElementwise);
  return logits;
}

// Top-down over the layers, with dy = dL/dpre[i] (out, B) and in = post[i-1] or x (in, B):
//   dL/dpre[i-1] = (W_iᵀ · dy) ⊙ [post[i-1] > 0] (in, B) into pre[i-1]  (not for layer 0)
//   dW = dy · inᵀ (out, in) into the scratch;  db = dy · 1 (out)
//   update of layer i from the scratch, and Σ dW² for the norm, in one pass
double TrainStep::BackwardAndUpdateFused(const Matrix& x) {
  auto& layers = model_.layers();
  const Matrix* dy = &ws_.dlogits;
  for (size_t i = layers.size(); i-- > 0;) {
    Linear& layer = layers[i];
    const Matrix& input = i == 0 ? x : ws_.post[i - 1];
    optimizer_.PrefetchLayer(i);  // the momentum arrives during the GEMMs, for the update
    if (i > 0) {
      gemm::ProductTransposedAGated(layer.weight, *dy, input, ws_.pre[i - 1]);
      Mark(StepPhase::kBackwardGemm);
    }
    Eigen::Map<Matrix> weight_grad(weight_grad_.data(), layer.out(), layer.in());
    gemm::ProductTransposedB(*dy, input, weight_grad);
    Mark(StepPhase::kBackwardGemm);
    layer.bias_grad.noalias() = dy->rowwise().sum();
    Mark(StepPhase::kBackwardElementwise);
    squared_sums_[i] = optimizer_.StepLayerAndSquaredSum(i, weight_grad.data());
    Mark(StepPhase::kUpdateAndNorm);
    if (i > 0) dy = &ws_.pre[i - 1];
  }
  double sum = 0;
  for (double s : squared_sums_) sum += s;
  return std::sqrt(sum);
}

}  // namespace ablate::core
