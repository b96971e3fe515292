// Tests of core/model.h: a forward pass with constant weights against values computed by hand,
// and finite-difference gradient checks of Linear, ReLU and a 3-layer MLP end to end.
#include "core/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/loss.h"
#include "core/random.h"

namespace ablate::core {
namespace {

using MatrixD = Eigen::MatrixXd;

Matrix RandomMatrix(int rows, int cols, Rng& rng, float scale = 1.0f) {
  Matrix m(rows, cols);
  for (Eigen::Index c = 0; c < cols; ++c)
    for (Eigen::Index r = 0; r < rows; ++r) m(r, c) = scale * rng.Normal();
  return m;
}

// Central difference of f with respect to the float *p: evaluates f at the float values
// just above and below *p and divides by their actual distance (which, after rounding to
// float, is not exactly 2·eps). Restores *p.
double CentralDifference(float* p, float eps, const std::function<double()>& f) {
  const float original = *p;
  const float plus = original + eps;
  const float minus = original - eps;
  *p = plus;
  const double f_plus = f();
  *p = minus;
  const double f_minus = f();
  *p = original;
  return (f_plus - f_minus) / (static_cast<double>(plus) - static_cast<double>(minus));
}

// Σ g ⊙ y in double: a scalar loss whose gradient with respect to y is exactly g.
double Contract(const Matrix& g, const Matrix& y) {
  return (g.cast<double>().array() * y.cast<double>().array()).sum();
}

// ---------------------------------------------------------------------------------------------
// Hand-computed forward pass.

TEST(LinearTest, ForwardComputesWxPlusB) {
  Linear layer(2, 2);
  layer.weight << 1, 2,  //
      3, 4;
  layer.bias << 0.5f, -1;
  Matrix x(2, 2);
  x << 1, -1,  //
      1, 0.5f;
  Matrix y(2, 2);
  layer.Forward(x, y);
  // column 0: (1+2+0.5, 3+4-1) = (3.5, 6); column 1: (-1+1+0.5, -3+2-1) = (0.5, -2)
  EXPECT_FLOAT_EQ(y(0, 0), 3.5f);
  EXPECT_FLOAT_EQ(y(1, 0), 6.0f);
  EXPECT_FLOAT_EQ(y(0, 1), 0.5f);
  EXPECT_FLOAT_EQ(y(1, 1), -2.0f);
}

TEST(LinearTest, StartsAtZero) {
  const Linear layer(5, 3);
  EXPECT_EQ(layer.in(), 5);
  EXPECT_EQ(layer.out(), 3);
  EXPECT_TRUE(layer.weight.isZero(0.0f));
  EXPECT_TRUE(layer.bias.isZero(0.0f));
}

// A depth-3 MLP, input 2 → width 3 → width 3 → 2 classes, with every weight matrix constant,
// on a batch of two examples, x₀ = (1, −2) and x₁ = (2, 1).
TEST(MlpTest, ForwardWithConstantWeightsMatchesHandComputation) {
  const ModelConfig config{.depth = 3, .width = 3, .input_dim = 2, .classes = 2};
  Mlp mlp(config);
  auto& layers = mlp.layers();
  layers[0].weight.setConstant(0.5f);
  layers[0].bias << 0.0f, -1.0f, 0.25f;
  layers[1].weight.setConstant(0.25f);
  layers[1].bias << 0.1f, 0.2f, -1.0f;
  layers[2].weight.setConstant(2.0f);
  layers[2].bias << 0.5f, -0.5f;
  Matrix x(2, 2);
  x << 1, 2,  //
      -2, 1;
  Workspace ws(config, 2);
  const Matrix& logits = mlp.Forward(x, ws);

  // Layer 0: W₀x = 0.5·(x₁ + x₂) in every row: −0.5 for x₀, 1.5 for x₁.
  //   pre₀ = (−0.5, −1.5, −0.25) and (1.5, 0.5, 1.75);  post₀ = (0, 0, 0) and (1.5, 0.5, 1.75).
  const float pre0[3][2] = {{-0.5f, 1.5f}, {-1.5f, 0.5f}, {-0.25f, 1.75f}};
  const float post0[3][2] = {{0, 1.5f}, {0, 0.5f}, {0, 1.75f}};
  // Layer 1: W₁·post₀ = 0.25·Σpost₀ = 0 and 0.25·3.75 = 0.9375.
  //   pre₁ = (0.1, 0.2, −1) and (1.0375, 1.1375, −0.0625);  post₁ = (0.1, 0.2, 0) and
  //   (1.0375, 1.1375, 0).
  const float pre1[3][2] = {{0.1f, 1.0375f}, {0.2f, 1.1375f}, {-1.0f, -0.0625f}};
  const float post1[3][2] = {{0.1f, 1.0375f}, {0.2f, 1.1375f}, {0, 0}};
  // Layer 2: W₂·post₁ = 2·Σpost₁ = 0.6 and 4.35;  logits = (1.1, 0.1) and (4.85, 3.85).
  const float expected_logits[2][2] = {{1.1f, 4.85f}, {0.1f, 3.85f}};

  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 2; ++c) {
      EXPECT_NEAR(ws.pre[0](r, c), pre0[r][c], 1e-6) << r << "," << c;
      EXPECT_NEAR(ws.post[0](r, c), post0[r][c], 1e-6) << r << "," << c;
      EXPECT_NEAR(ws.pre[1](r, c), pre1[r][c], 1e-6) << r << "," << c;
      EXPECT_NEAR(ws.post[1](r, c), post1[r][c], 1e-6) << r << "," << c;
    }
  }
  ASSERT_EQ(logits.rows(), 2);
  ASSERT_EQ(logits.cols(), 2);
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 2; ++c) {
      EXPECT_NEAR(logits(r, c), expected_logits[r][c], 1e-5) << r << "," << c;
    }
  }
  EXPECT_EQ(&logits, &ws.pre[2]) << "Forward returns the logits inside the workspace";

  // Both columns have logit margin exactly 1, so with labels (0, 1) the mean cross-entropy is
  // (ln(1 + e⁻¹) + ln(1 + e¹)) / 2 = (0.3132617 + 1.3132617) / 2 = 0.8132617.
  const std::vector<int32_t> labels = {0, 1};
  EXPECT_NEAR(SoftmaxCrossEntropy(logits, labels, nullptr), 0.8132617, 1e-6);
}

TEST(MlpTest, ShapesOfTheLabModel) {
  const ModelConfig lab;  // 12 × 256, input 256, 2 classes
  Mlp mlp(lab);
  ASSERT_EQ(mlp.layers().size(), 12u);
  EXPECT_EQ(mlp.layers().front().in(), 256);
  EXPECT_EQ(mlp.layers().front().out(), 256);
  EXPECT_EQ(mlp.layers().back().in(), 256);
  EXPECT_EQ(mlp.layers().back().out(), 2);
  // 11 layers of 256·256 + 256, one of 256·2 + 2.
  EXPECT_EQ(mlp.ParameterCount(), 11 * (256 * 256 + 256) + 256 * 2 + 2);
  // Per step at batch 64: 2·B·in·out for the forward GEMM, the weight-gradient GEMM and (all
  // but the first layer) the input-gradient GEMM.
  const double gemm = 2.0 * 64 * 256 * 256;
  EXPECT_DOUBLE_EQ(mlp.StepFlops(64), gemm * 2 + gemm * 3 * 10 + 2.0 * 64 * 256 * 2 * 3);

  const Workspace ws(lab, 64);
  EXPECT_EQ(ws.batch(), 64);
  ASSERT_EQ(ws.pre.size(), 12u);
  ASSERT_EQ(ws.post.size(), 11u);
  EXPECT_EQ(ws.pre.back().rows(), 2);
  EXPECT_EQ(ws.pre.front().rows(), 256);
}

TEST(MlpTest, DepthOneIsASingleLinearLayer) {
  const ModelConfig config{.depth = 1, .width = 7, .input_dim = 3, .classes = 2};
  Mlp mlp(config);
  ASSERT_EQ(mlp.layers().size(), 1u);
  EXPECT_EQ(mlp.layers()[0].in(), 3);
  EXPECT_EQ(mlp.layers()[0].out(), 2);
  Rng rng(1);
  mlp.layers()[0].weight = RandomMatrix(2, 3, rng);
  const Matrix x = RandomMatrix(3, 4, rng);
  Workspace ws(config, 4);
  const Matrix& logits = mlp.Forward(x, ws);
  EXPECT_TRUE(logits.isApprox(mlp.layers()[0].weight * x));
  mlp.Backward(x, ws.dlogits.setOnes(), ws);  // must not touch the (unused) hidden buffers
  EXPECT_TRUE(mlp.layers()[0].weight_grad.isApprox(Matrix::Ones(2, 4) * x.transpose()));
}

TEST(MlpTest, WeightGradNormIgnoresBiases) {
  const ModelConfig config{.depth = 2, .width = 2, .input_dim = 2, .classes = 2};
  Mlp mlp(config);
  mlp.layers()[0].weight_grad << 3, 0, 0, 0;
  mlp.layers()[1].weight_grad << 0, 4, 0, 0;
  mlp.layers()[0].bias_grad << 100, 100;
  mlp.layers()[1].bias_grad << 100, 100;
  EXPECT_DOUBLE_EQ(mlp.WeightGradNorm(), 5.0);
}

TEST(MlpTest, WeightGradNormSumsEveryElementOfLargeLayers) {
  // Layers large enough for the vectorised sum (whole blocks of lanes plus a tail: 37·29 = 1073
  // and 2·37 = 74 elements, and the lab's 256·256), against a plain sum of squares in long
  // double. Every element has magnitude about 1, so losing any one lane, block or tail element
  // moves the norm by far more than rounding does (~1e-15 relative).
  for (const ModelConfig config : {ModelConfig{.depth = 2, .width = 37, .input_dim = 29},
                                   ModelConfig{.depth = 3, .width = 256, .input_dim = 256},
                                   ModelConfig{.depth = 2, .width = 5, .input_dim = 3}}) {
    SCOPED_TRACE(config.width);
    Mlp mlp(config);
    Rng rng(25);
    long double expected = 0;
    for (Linear& layer : mlp.layers()) {
      for (float& g : layer.weight_grad.reshaped()) {
        g = (rng.Uniform01() < 0.5f ? -1.0f : 1.0f) * (0.5f + rng.Uniform01());
        expected += static_cast<long double>(g) * g;
      }
      layer.bias_grad.setConstant(100.0f);
    }
    const double norm = mlp.WeightGradNorm();
    EXPECT_NEAR(norm, std::sqrt(static_cast<double>(expected)), 1e-12 * norm);
  }
}

// ---------------------------------------------------------------------------------------------
// ReLU.

TEST(ReluTest, ForwardClampsNegativesToZero) {
  Matrix z(1, 4);
  z << -1.5f, 0.0f, 2.0f, -0.0f;
  Matrix a(1, 4);
  ReLU::Forward(z, a);
  EXPECT_EQ(a(0, 0), 0.0f);
  EXPECT_EQ(a(0, 1), 0.0f);
  EXPECT_EQ(a(0, 2), 2.0f);
  EXPECT_EQ(a(0, 3), 0.0f);
}

TEST(ReluTest, BackwardOverwritesZWithTheGatedGradient) {
  Matrix z(1, 4);
  z << -1.5f, 0.0f, 2.0f, 1e-30f;
  Matrix da(1, 4);
  da << 5, 6, 7, 8;
  ReLU::Backward(da, z);
  // Gradient flows only where z > 0; at z == 0 the subgradient 0 is used.
  EXPECT_EQ(z(0, 0), 0.0f);
  EXPECT_EQ(z(0, 1), 0.0f);
  EXPECT_EQ(z(0, 2), 7.0f);
  EXPECT_EQ(z(0, 3), 8.0f);
}

TEST(ReluTest, BackwardMatchesFiniteDifferences) {
  // L(z) = Σ g ⊙ ReLU(z). Entries are kept at least 0.1 from the kink so that z ± eps stays
  // on one side of it; ReLU is then linear around z and the central difference exact up to
  // rounding.
  Rng rng(21);
  Matrix z = RandomMatrix(6, 5, rng);
  for (float& v : z.reshaped()) v = std::copysign(std::abs(v) + 0.1f, v);
  const Matrix g = RandomMatrix(6, 5, rng);
  Matrix a(6, 5);
  auto loss = [&] {
    ReLU::Forward(z, a);
    return Contract(g, a);
  };
  Matrix dz = z;  // Backward overwrites its z argument with dL/dz
  ReLU::Backward(g, dz);
  for (Eigen::Index i = 0; i < z.size(); ++i) {
    const double numeric = CentralDifference(&z.data()[i], 1e-2f, loss);
    EXPECT_NEAR(dz.data()[i], numeric, 1e-5) << "element " << i;
  }
}

// ---------------------------------------------------------------------------------------------
// Linear gradients.

TEST(LinearTest, BackwardMatchesFiniteDifferences) {
  // L(W, b, x) = Σ g ⊙ (W x + b), linear in each of W, b and x, so central differences are
  // exact but for float rounding of y (≲1e-6 after the division by 2·eps).
  constexpr int kIn = 4, kOut = 3, kBatch = 5;
  Rng rng(22);
  Linear layer(kIn, kOut);
  layer.weight = RandomMatrix(kOut, kIn, rng);
  layer.bias = RandomMatrix(kOut, 1, rng);
  Matrix x = RandomMatrix(kIn, kBatch, rng);
  const Matrix g = RandomMatrix(kOut, kBatch, rng);
  Matrix y(kOut, kBatch);
  auto loss = [&] {
    layer.Forward(x, y);
    return Contract(g, y);
  };
  Matrix dx(kIn, kBatch);
  layer.Backward(x, g, &dx);

  constexpr float kEps = 1e-2f;
  constexpr double kTolerance = 1e-4;
  for (Eigen::Index i = 0; i < layer.weight.size(); ++i) {
    EXPECT_NEAR(layer.weight_grad.data()[i], CentralDifference(&layer.weight.data()[i], kEps, loss),
                kTolerance)
        << "weight " << i;
  }
  for (Eigen::Index i = 0; i < layer.bias.size(); ++i) {
    EXPECT_NEAR(layer.bias_grad(i), CentralDifference(&layer.bias(i), kEps, loss), kTolerance)
        << "bias " << i;
  }
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(dx.data()[i], CentralDifference(&x.data()[i], kEps, loss), kTolerance)
        << "input " << i;
  }
}

TEST(LinearTest, BackwardOverwritesRatherThanAccumulates) {
  Rng rng(23);
  Linear layer(3, 2);
  layer.weight = RandomMatrix(2, 3, rng);
  const Matrix x = RandomMatrix(3, 4, rng);
  const Matrix g = RandomMatrix(2, 4, rng);
  layer.Backward(x, g, nullptr);
  const Matrix first_weight_grad = layer.weight_grad;
  const Vector first_bias_grad = layer.bias_grad;
  layer.Backward(x, g, nullptr);
  EXPECT_TRUE(layer.weight_grad == first_weight_grad);
  EXPECT_TRUE(layer.bias_grad == first_bias_grad);
}

// ---------------------------------------------------------------------------------------------
// End to end: softmax cross-entropy of a 3-layer MLP.

// An independent double-precision forward pass and loss, from the float parameters of `mlp`
// (copied to double), for reference values and finite differences without float rounding.
struct ReferenceMlp {
  explicit ReferenceMlp(const Mlp& mlp) {
    for (const Linear& layer : mlp.layers()) {
      weights.push_back(layer.weight.cast<double>());
      biases.push_back(layer.bias.cast<double>());
    }
  }

  MatrixD Logits(const MatrixD& x) const {
    MatrixD a = x;
    for (size_t i = 0; i < weights.size(); ++i) {
      MatrixD z = (weights[i] * a).colwise() + biases[i];
      a = i + 1 < weights.size() ? MatrixD(z.cwiseMax(0.0)) : z;
    }
    return a;
  }

  double Loss(const MatrixD& x, const std::vector<int32_t>& labels) const {
    const MatrixD logits = Logits(x);
    double total = 0;
    for (Eigen::Index b = 0; b < logits.cols(); ++b) {
      const double max = logits.col(b).maxCoeff();
      const double lse = max + std::log((logits.col(b).array() - max).exp().sum());
      total += lse - logits(labels[b], b);
    }
    return total / static_cast<double>(logits.cols());
  }

  // dLoss/dθ by central differences in double.
  double Derivative(double* theta, const MatrixD& x, const std::vector<int32_t>& labels) {
    constexpr double kEps = 1e-6;
    const double original = *theta;
    *theta = original + kEps;
    const double plus = Loss(x, labels);
    *theta = original - kEps;
    const double minus = Loss(x, labels);
    *theta = original;
    return (plus - minus) / (2 * kEps);
  }

  std::vector<MatrixD> weights;
  std::vector<Eigen::VectorXd> biases;
};

class MlpGradientTest : public testing::Test {
 protected:
  static constexpr int kBatch = 6;
  const ModelConfig config_{.depth = 3, .width = 8, .input_dim = 5, .classes = 3};

  void SetUp() override {
    // Kaiming-scaled weights and small random biases, so every gradient is non-trivial.
    Rng rng(24);
    for (Linear& layer : mlp_.layers()) {
      layer.weight = RandomMatrix(layer.out(), layer.in(), rng,
                                  static_cast<float>(std::sqrt(2.0 / layer.in())));
      layer.bias = RandomMatrix(layer.out(), 1, rng, 0.1f);
    }
    x_ = RandomMatrix(config_.input_dim, kBatch, rng);
    for (int b = 0; b < kBatch; ++b) labels_.push_back(static_cast<int32_t>(rng.Below(3)));
  }

  // Forward, loss and backward through the core, in float.
  float ForwardBackward() {
    const Matrix& logits = mlp_.Forward(x_, ws_);
    const float loss = SoftmaxCrossEntropy(logits, labels_, &ws_.dlogits);
    mlp_.Backward(x_, ws_.dlogits, ws_);
    return loss;
  }

  Mlp mlp_{config_};
  Workspace ws_{config_, kBatch};
  Matrix x_;
  std::vector<int32_t> labels_;
};

TEST_F(MlpGradientTest, ForwardAgreesWithDoubleReference) {
  const ReferenceMlp reference(mlp_);
  const Matrix& logits = mlp_.Forward(x_, ws_);
  const MatrixD expected = reference.Logits(x_.cast<double>());
  EXPECT_LT((logits.cast<double>() - expected).cwiseAbs().maxCoeff(), 1e-5);
  EXPECT_NEAR(SoftmaxCrossEntropy(logits, labels_, nullptr),
              reference.Loss(x_.cast<double>(), labels_), 1e-6);
}

TEST_F(MlpGradientTest, EveryParameterGradientMatchesDoubleFiniteDifferences) {
  ForwardBackward();
  ReferenceMlp reference(mlp_);
  const MatrixD x = x_.cast<double>();
  int checked = 0;
  double largest = 0;
  for (size_t l = 0; l < mlp_.layers().size(); ++l) {
    const Linear& layer = mlp_.layers()[l];
    for (Eigen::Index i = 0; i < layer.weight.size(); ++i) {
      const double numeric = reference.Derivative(&reference.weights[l].data()[i], x, labels_);
      EXPECT_NEAR(layer.weight_grad.data()[i], numeric, 1e-5 + 1e-4 * std::abs(numeric))
          << "layer " << l << " weight " << i;
      largest = std::max(largest, std::abs(numeric));
      ++checked;
    }
    for (Eigen::Index i = 0; i < layer.bias.size(); ++i) {
      const double numeric = reference.Derivative(&reference.biases[l].data()[i], x, labels_);
      EXPECT_NEAR(layer.bias_grad(i), numeric, 1e-5 + 1e-4 * std::abs(numeric))
          << "layer " << l << " bias " << i;
      ++checked;
    }
  }
  EXPECT_EQ(checked, mlp_.ParameterCount());
  EXPECT_GT(largest, 1e-2) << "the check is vacuous if every gradient is ~0";
}

TEST_F(MlpGradientTest, GradientsMatchFloatFiniteDifferencesThroughTheCore) {
  // The same check through the core's own float Forward and loss: coarser (eps 1e-2, the loss
  // rounded to float). A perturbation that flips a ReLU on or off (crosses its kink) makes the
  // difference quotient meaningless there, so those parameters are detected and skipped.
  ForwardBackward();
  std::vector<Matrix> weight_grads;
  std::vector<Vector> bias_grads;
  for (const Linear& layer : mlp_.layers()) {
    weight_grads.push_back(layer.weight_grad);
    bias_grads.push_back(layer.bias_grad);
  }
  Workspace probe(config_, kBatch);
  auto relu_pattern = [&] {
    std::vector<bool> on;
    for (size_t i = 0; i + 1 < probe.pre.size(); ++i) {
      for (float v : probe.pre[i].reshaped()) on.push_back(v > 0);
    }
    return on;
  };
  mlp_.Forward(x_, probe);
  const std::vector<bool> base_pattern = relu_pattern();
  int checked = 0, skipped = 0;
  auto check = [&](float* parameter, double analytic) -> std::string {
    bool crossed_kink = false;
    auto loss = [&] {
      const double value = SoftmaxCrossEntropy(mlp_.Forward(x_, probe), labels_, nullptr);
      crossed_kink |= relu_pattern() != base_pattern;
      return value;
    };
    const double numeric = CentralDifference(parameter, 1e-2f, loss);
    if (crossed_kink) {
      ++skipped;
      return "";
    }
    ++checked;
    const double tolerance = 2e-4 + 1e-2 * std::abs(numeric);
    if (std::abs(analytic - numeric) <= tolerance) return "";
    return "analytic " + std::to_string(analytic) + " vs numeric " + std::to_string(numeric);
  };
  for (size_t l = 0; l < mlp_.layers().size(); ++l) {
    Linear& layer = mlp_.layers()[l];
    for (Eigen::Index i = 0; i < layer.weight.size(); ++i) {
      EXPECT_EQ(check(&layer.weight.data()[i], weight_grads[l].data()[i]), "")
          << "layer " << l << " weight " << i;
    }
    for (Eigen::Index i = 0; i < layer.bias.size(); ++i) {
      EXPECT_EQ(check(&layer.bias(i), bias_grads[l](i)), "") << "layer " << l << " bias " << i;
    }
  }
  RecordProperty("skipped_at_kinks", skipped);
  EXPECT_EQ(checked + skipped, mlp_.ParameterCount());
  EXPECT_LE(skipped, mlp_.ParameterCount() / 10) << "too few parameters checked";
}

TEST_F(MlpGradientTest, BackwardLeavesDlDpreInTheWorkspace) {
  // model.h: Backward overwrites ws.pre[i] (for every layer below the last) with dL/dpre[i].
  // So layer i's gradients are exactly those of a Linear fed dL/dpre[i].
  ForwardBackward();
  const Matrix logits_after = ws_.pre.back();
  for (size_t i = 0; i + 1 < mlp_.layers().size(); ++i) {
    const Matrix& input = i == 0 ? x_ : ws_.post[i - 1];
    const Matrix& dpre = ws_.pre[i];
    EXPECT_TRUE(mlp_.layers()[i].weight_grad.isApprox(dpre * input.transpose(), 1e-5f))
        << "layer " << i;
    EXPECT_TRUE(mlp_.layers()[i].bias_grad.isApprox(dpre.rowwise().sum(), 1e-5f)) << "layer " << i;
  }
  // The logits themselves are not overwritten.
  Workspace fresh(config_, kBatch);
  EXPECT_TRUE(logits_after == mlp_.Forward(x_, fresh));
}

TEST_F(MlpGradientTest, RepeatedPassesGiveIdenticalGradients) {
  // Forward must refill everything Backward overwrote, and gradients are set, not summed.
  const float first_loss = ForwardBackward();
  const Matrix first = mlp_.layers()[0].weight_grad;
  const float second_loss = ForwardBackward();
  EXPECT_EQ(first_loss, second_loss);
  EXPECT_TRUE(mlp_.layers()[0].weight_grad == first);
}

}  // namespace
}  // namespace ablate::core
