#include "core/model.h"

#include <cmath>

#include "core/gemm.h"
#include "core/kernels.h"

namespace ablate::core {

Linear::Linear(int in, int out)
    : weight(Matrix::Zero(out, in)),
      bias(Vector::Zero(out)),
      weight_grad(Matrix::Zero(out, in)),
      bias_grad(Vector::Zero(out)) {}

// x: (in, B) → y: (out, B).  y = W x + b·1ᵀ
void Linear::Forward(const Matrix& x, Matrix& y) const {
  gemm::Product(weight, x, y);
  y.colwise() += bias;
}

// dy: (out, B), x: (in, B).  dW = dy xᵀ (out, in);  db = dy·1 (out);  dx = Wᵀ dy (in, B)
void Linear::Backward(const Matrix& x, const Matrix& dy, Matrix* dx) {
  gemm::ProductTransposedB(dy, x, weight_grad);
  bias_grad.noalias() = dy.rowwise().sum();
  if (dx != nullptr) gemm::ProductTransposedA(weight, dy, *dx);
}

void ReLU::Forward(const Matrix& z, Matrix& a) { a = z.cwiseMax(0.0f); }

void ReLU::Backward(const Matrix& da, Matrix& z) {
  z = (z.array() > 0.0f).select(da, 0.0f);
}

Workspace::Workspace(const ModelConfig& model, int batch)
    : grad_post(model.width, batch), dlogits(model.classes, batch) {
  const std::vector<LayerShape> shapes = LayerShapes(model);
  for (size_t i = 0; i < shapes.size(); ++i) {
    pre.emplace_back(shapes[i].fan_out, batch);
    if (i + 1 < shapes.size()) post.emplace_back(shapes[i].fan_out, batch);
  }
}

Mlp::Mlp(const ModelConfig& model) {
  const std::vector<LayerShape> shapes = LayerShapes(model);
  layers_.reserve(shapes.size());
  for (const LayerShape& shape : shapes) layers_.emplace_back(shape.fan_in, shape.fan_out);
}

void Mlp::Initialize(const InitScheme& scheme, const InitConfig& init) {
  Rng rng(init.weight_seed);
  for (Linear& layer : layers_) {
    scheme.fill(layer.weight, init, rng);
    layer.bias.setZero();
  }
}

const Matrix& Mlp::Forward(const Matrix& x, Workspace& ws) const {
  const Matrix* input = &x;
  const size_t last = layers_.size() - 1;
  for (size_t i = 0; i < layers_.size(); ++i) {
    layers_[i].Forward(*input, ws.pre[i]);
    if (i == last) break;
    ReLU::Forward(ws.pre[i], ws.post[i]);
    input = &ws.post[i];
  }
  return ws.pre[last];
}

// Walks the layers top-down. ws.pre[i] turns into dL/dpre[i] (by ReLU::Backward) just before
// layer i needs it; ws.grad_post carries dL/dpost[i-1] from layer i to the ReLU below it.
void Mlp::Backward(const Matrix& x, const Matrix& dlogits, Workspace& ws) {
  const Matrix* grad = &dlogits;
  for (size_t i = layers_.size(); i-- > 0;) {
    if (i == 0) {
      layers_[0].Backward(x, *grad, nullptr);
      break;
    }
    layers_[i].Backward(ws.post[i - 1], *grad, &ws.grad_post);
    ReLU::Backward(ws.grad_post, ws.pre[i - 1]);
    grad = &ws.pre[i - 1];
  }
}

// cast<double>().squaredNorm() compiles to a scalar loop that waits on one dependent add per
// element (0.6 ms of a 4.5 ms lab step); kernels.h sums in independent lanes. The summation
// order is fixed by the code, so the result is deterministic.
double SquaredSum(const float* v, Eigen::Index n) {
  double partial[kernels::kSquareLanes] = {};
  const Eigen::Index groups = n / kernels::kSquareLanes;
  kernels::AddSquares(v, groups, partial);
  const Eigen::Index done = groups * kernels::kSquareLanes;
  return kernels::FinishSquares(v + done, n - done, partial);
}

double Mlp::WeightGradNorm() const {
  double sum = 0;
  for (const Linear& layer : layers_) {
    sum += SquaredSum(layer.weight_grad.data(), layer.weight_grad.size());
  }
  return std::sqrt(sum);
}

int64_t Mlp::ParameterCount() const {
  int64_t count = 0;
  for (const Linear& layer : layers_) count += layer.weight.size() + layer.bias.size();
  return count;
}

double Mlp::StepFlops(int batch) const {
  double flops = 0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const double gemm = 2.0 * batch * layers_[i].in() * layers_[i].out();
    // forward, weight gradient, and input gradient for every layer but the first
    flops += gemm * (i == 0 ? 2 : 3);
  }
  return flops;
}

}  // namespace ablate::core
