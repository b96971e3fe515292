#include "core/optim.h"

#include <algorithm>

namespace ablate::core {

SgdMomentum::SgdMomentum(Mlp& model, double lr, double momentum)
    : model_(model), lr_(static_cast<float>(lr)), momentum_(static_cast<float>(momentum)) {
  for (const Linear& layer : model_.layers()) {
    weight_velocity_.push_back(Matrix::Zero(layer.weight.rows(), layer.weight.cols()));
    bias_velocity_.push_back(Vector::Zero(layer.bias.size()));
  }
}

namespace {

// v ← μ·v + g;  p ← p − lr·v over n floats, in one pass: chunks small enough that v is still in
// L1 for its second use, instead of two passes over whole matrices that each stream p, v and g
// from L2/L3. Each element sees the same two expressions as the two-pass form, so the result is
// the same bit for bit.
void Update(float* p, float* v, const float* g, Eigen::Index n, float lr, float momentum) {
  constexpr Eigen::Index kChunk = 1024;  // 3 arrays × 4 KiB
  for (Eigen::Index start = 0; start < n; start += kChunk) {
    const Eigen::Index len = std::min(kChunk, n - start);
    Eigen::Map<Eigen::ArrayXf> velocity(v + start, len), param(p + start, len);
    Eigen::Map<const Eigen::ArrayXf> grad(g + start, len);
    velocity = momentum * velocity + grad;
    param -= lr * velocity;
  }
}

}  // namespace

void SgdMomentum::Step() {
  auto& layers = model_.layers();
  for (size_t i = 0; i < layers.size(); ++i) StepLayer(i, layers[i].weight_grad.data());
}

void SgdMomentum::StepLayer(size_t index, const float* weight_grad) {
  Linear& layer = model_.layers()[index];
  Update(layer.weight.data(), weight_velocity_[index].data(), weight_grad, layer.weight.size(), lr_,
         momentum_);
  Update(layer.bias.data(), bias_velocity_[index].data(), layer.bias_grad.data(), layer.bias.size(),
         lr_, momentum_);
}

}  // namespace ablate::core
