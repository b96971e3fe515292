#include "core/optim.h"

namespace ablate::core {

SgdMomentum::SgdMomentum(Mlp& model, double lr, double momentum)
    : model_(model), lr_(static_cast<float>(lr)), momentum_(static_cast<float>(momentum)) {
  for (const Linear& layer : model_.layers()) {
    weight_velocity_.push_back(Matrix::Zero(layer.weight.rows(), layer.weight.cols()));
    bias_velocity_.push_back(Vector::Zero(layer.bias.size()));
  }
}

void SgdMomentum::Step() {
  auto& layers = model_.layers();
  for (size_t i = 0; i < layers.size(); ++i) {
    Linear& layer = layers[i];
    weight_velocity_[i] = momentum_ * weight_velocity_[i] + layer.weight_grad;
    layer.weight -= lr_ * weight_velocity_[i];
    bias_velocity_[i] = momentum_ * bias_velocity_[i] + layer.bias_grad;
    layer.bias -= lr_ * bias_velocity_[i];
  }
}

}  // namespace ablate::core
