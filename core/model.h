// minitorch-style modules: Linear and ReLU as forward/backward pairs, and the MLP built from
// them. All buffers are sized once, so a training step allocates nothing (core/gemm.h's kernel
// needs no workspace; Eigen's products, where they run, only for GEMMs whose workspace fits
// EIGEN_STACK_ALLOCATION_LIMIT, set in the top-level CMakeLists.txt: widths and batches up to
// 256).
#ifndef ABLATE_CORE_MODEL_H_
#define ABLATE_CORE_MODEL_H_

#include <cstdint>
#include <vector>

#include "core/config.h"
#include "core/init.h"
#include "core/tensor.h"

namespace ablate::core {

// y = W x + b for a batch of column vectors.
class Linear {
 public:
  Linear(int in, int out);  // weight and bias zero until initialised

  int in() const { return static_cast<int>(weight.cols()); }
  int out() const { return static_cast<int>(weight.rows()); }

  // x (in × B) → y (out × B). y must already be (out × B).
  void Forward(const Matrix& x, Matrix& y) const;
  // Given the forward input x (in × B) and dL/dy (out × B): sets weight_grad and bias_grad,
  // and writes dL/dx (in × B) into *dx, which must already be (in × B), unless dx is null (the
  // first layer needs none).
  void Backward(const Matrix& x, const Matrix& dy, Matrix* dx);

  Matrix weight;       // out × in
  Vector bias;         // out
  Matrix weight_grad;  // out × in
  Vector bias_grad;    // out
};

struct ReLU {
  // a = max(z, 0), elementwise.
  static void Forward(const Matrix& z, Matrix& a);
  // Given dL/da, turns z into dL/dz = dL/da where z > 0, else 0. The backward pass needs the
  // pre-activation only here, so it is overwritten in place rather than copied.
  static void Backward(const Matrix& da, Matrix& z);
};

// Per-batch-size buffers for a forward and backward pass of one Mlp.
struct Workspace {
  Workspace(const ModelConfig& model, int batch);
  int batch() const { return static_cast<int>(dlogits.cols()); }

  std::vector<Matrix> pre;   // pre[i]: output of layer i before its ReLU (the logits for the
                             // last); Backward overwrites it with dL/dpre[i]
  std::vector<Matrix> post;  // post[i]: ReLU(pre[i]) for every layer but the last
  Matrix grad_post;          // dL/dpost of the layer being back-propagated into (width × B)
  Matrix dlogits;            // dL/dlogits (classes × B), for the loss to fill
};

// depth Linear layers with a ReLU between each pair and none after the last: no
// normalisation, no residual connections.
class Mlp {
 public:
  explicit Mlp(const ModelConfig& model);

  // Draws every weight from `scheme` with a generator seeded by init.weight_seed, layer by layer;
  // biases to zero.
  void Initialize(const InitScheme& scheme, const InitConfig& init);

  // x (input_dim × B) → logits (classes × B), which it returns (a reference into ws).
  const Matrix& Forward(const Matrix& x, Workspace& ws) const;
  // Back-propagates dL/dlogits through the activations of the last Forward(x, ws), filling
  // every layer's gradients. dlogits may be ws.dlogits but no other buffer of ws.
  void Backward(const Matrix& x, const Matrix& dlogits, Workspace& ws);

  // The L2 norm of all weight gradients (biases excluded: a bias-only gradient cannot make a
  // network with dead units learn, so the flatline test ignores it): the square root of the
  // sum, over layers in order from the first, of SquaredSum(layer.weight_grad), in double.
  double WeightGradNorm() const;

  std::vector<Linear>& layers() { return layers_; }
  const std::vector<Linear>& layers() const { return layers_; }
  int64_t ParameterCount() const;
  // Multiply-adds ×2 of one training step (forward + backward GEMMs) at batch size `batch`.
  double StepFlops(int batch) const;

 private:
  std::vector<Linear> layers_;
};

// Σ v[i]² over n floats, in double precision and in a fixed order (so the same floats always
// give the same bits): the per-layer term of Mlp::WeightGradNorm.
double SquaredSum(const float* v, Eigen::Index n);

}  // namespace ablate::core

#endif  // ABLATE_CORE_MODEL_H_
