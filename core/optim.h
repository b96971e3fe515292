// Stochastic gradient descent with momentum.
#ifndef ABLATE_CORE_OPTIM_H_
#define ABLATE_CORE_OPTIM_H_

#include <cstddef>
#include <vector>

#include "core/model.h"
#include "core/tensor.h"

namespace ablate::core {

// torch.optim.SGD semantics (pytorch.org/docs/stable/generated/torch.optim.SGD.html, with
// dampening 0, nesterov False, weight_decay 0):  v ← μ·v + g;  p ← p − lr·v,  v starting at 0.
// Borrows the model, which must outlive the optimizer.
class SgdMomentum {
 public:
  SgdMomentum(Mlp& model, double lr, double momentum);
  // Applies one update from the gradients the model holds.
  void Step();
  // Step() for layer `index` alone, its weight gradient read from `weight_grad` (the layer's
  // out × in floats, column-major) instead of the layer's weight_grad; its bias gradient from
  // the layer's bias_grad. Step() is this for every layer, so the arithmetic is the same.
  void StepLayer(size_t index, const float* weight_grad);
  // StepLayer, returning SquaredSum(weight_grad, out × in) (core/model.h) computed in the same
  // pass over the gradient: the fused step's norm term for the layer.
  double StepLayerAndSquaredSum(size_t index, const float* weight_grad);
  // Asks the CPU to bring layer `index`'s weight momentum into its L2 cache ahead of
  // StepLayer(index), for a caller that has other work to do first. A hint: it changes no value.
  void PrefetchLayer(size_t index) const;

  // The momentum buffers, one per layer, shaped like its weight and bias (checkpoints read and
  // restore them).
  std::vector<Matrix>& weight_velocity() { return weight_velocity_; }
  std::vector<Vector>& bias_velocity() { return bias_velocity_; }
  const std::vector<Matrix>& weight_velocity() const { return weight_velocity_; }
  const std::vector<Vector>& bias_velocity() const { return bias_velocity_; }

 private:
  Mlp& model_;
  float lr_;
  float momentum_;
  std::vector<Matrix> weight_velocity_;
  std::vector<Vector> bias_velocity_;
};

}  // namespace ablate::core

#endif  // ABLATE_CORE_OPTIM_H_
