// Tests of core/optim.h: SGD with momentum against a hand computation of two steps (the second
// exercises the velocity), with torch.optim.SGD semantics.
#include "core/optim.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/loss.h"
#include "core/random.h"

namespace ablate::core {
namespace {

// A one-layer model (2 inputs → 2 classes) with hand-set parameters and gradients.
class SgdMomentumTest : public testing::Test {
 protected:
  void SetUp() override {
    Linear& layer = mlp_.layers()[0];
    layer.weight << 1, 2,  //
        3, 4;
    layer.bias << 0.5f, -0.5f;
  }

  // Weight gradient row by row, then the bias gradient.
  void SetGradients(float w00, float w01, float w10, float w11, float b0, float b1) {
    Linear& layer = mlp_.layers()[0];
    layer.weight_grad << w00, w01, w10, w11;
    layer.bias_grad << b0, b1;
  }

  const ModelConfig config_{.depth = 1, .width = 2, .input_dim = 2, .classes = 2};
  Mlp mlp_{config_};
};

TEST_F(SgdMomentumTest, TwoStepsMatchHandComputation) {
  SgdMomentum optimizer(mlp_, /*lr=*/0.1, /*momentum=*/0.9);
  const Linear& layer = mlp_.layers()[0];

  // Step 1: v = g₁ = [[0.5, −1], [0, 2]];  W ← W − 0.1·v = [[0.95, 2.1], [3, 3.8]].
  //         bias: v = (1, −2);  b ← (0.5 − 0.1, −0.5 + 0.2) = (0.4, −0.3).
  SetGradients(0.5f, -1, 0, 2, 1, -2);
  optimizer.Step();
  EXPECT_NEAR(layer.weight(0, 0), 0.95, 1e-6);
  EXPECT_NEAR(layer.weight(0, 1), 2.1, 1e-6);
  EXPECT_NEAR(layer.weight(1, 0), 3.0, 1e-6);
  EXPECT_NEAR(layer.weight(1, 1), 3.8, 1e-6);
  EXPECT_NEAR(layer.bias(0), 0.4, 1e-6);
  EXPECT_NEAR(layer.bias(1), -0.3, 1e-6);

  // Step 2: v = 0.9·g₁ + g₂ with g₂ = [[1, 1], [−1, 0]]: [[1.45, 0.1], [−1, 1.8]];
  //         W ← [[0.95 − 0.145, 2.1 − 0.01], [3 + 0.1, 3.8 − 0.18]] = [[0.805, 2.09], [3.1, 3.62]].
  //         bias: v = 0.9·(1, −2) + (0.5, 0.5) = (1.4, −1.3);  b ← (0.4 − 0.14, −0.3 + 0.13)
  //         = (0.26, −0.17).
  SetGradients(1, 1, -1, 0, 0.5f, 0.5f);
  optimizer.Step();
  EXPECT_NEAR(layer.weight(0, 0), 0.805, 1e-6);
  EXPECT_NEAR(layer.weight(0, 1), 2.09, 1e-6);
  EXPECT_NEAR(layer.weight(1, 0), 3.1, 1e-6);
  EXPECT_NEAR(layer.weight(1, 1), 3.62, 1e-6);
  EXPECT_NEAR(layer.bias(0), 0.26, 1e-6);
  EXPECT_NEAR(layer.bias(1), -0.17, 1e-6);
}

TEST_F(SgdMomentumTest, ZeroMomentumIsPlainSgd) {
  SgdMomentum optimizer(mlp_, /*lr=*/0.5, /*momentum=*/0.0);
  SetGradients(1, 0, 0, 0, 0, 0);
  optimizer.Step();
  SetGradients(0, 0, 0, 0, 0, 0);
  optimizer.Step();  // no velocity remains, so nothing moves
  EXPECT_FLOAT_EQ(mlp_.layers()[0].weight(0, 0), 0.5f);
  EXPECT_FLOAT_EQ(mlp_.layers()[0].weight(1, 1), 4.0f);
}

TEST_F(SgdMomentumTest, VelocityKeepsMovingWithZeroGradient) {
  // After one step with g = 1 the velocity is 1; a zero gradient then still moves by lr·μ.
  SgdMomentum optimizer(mlp_, /*lr=*/0.1, /*momentum=*/0.5);
  SetGradients(1, 0, 0, 0, 0, 0);
  optimizer.Step();  // 1 − 0.1 = 0.9
  SetGradients(0, 0, 0, 0, 0, 0);
  optimizer.Step();  // 0.9 − 0.1·0.5 = 0.85
  optimizer.Step();  // 0.85 − 0.1·0.25 = 0.825
  EXPECT_NEAR(mlp_.layers()[0].weight(0, 0), 0.825, 1e-6);
}

TEST(SgdMomentumMultiLayerTest, EveryLayerHasItsOwnVelocity) {
  const ModelConfig config{.depth = 3, .width = 4, .input_dim = 3, .classes = 2};
  Mlp mlp(config);
  std::vector<float> grads = {1.0f, 2.0f, 3.0f};
  SgdMomentum optimizer(mlp, /*lr=*/1.0, /*momentum=*/0.9);
  for (size_t i = 0; i < 3; ++i) {
    mlp.layers()[i].weight_grad.setConstant(grads[i]);
    mlp.layers()[i].bias_grad.setConstant(-grads[i]);
  }
  optimizer.Step();
  optimizer.Step();  // same gradients again: v = 1.9·g, total move 2.9·g
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(mlp.layers()[i].weight(0, 0), -2.9 * grads[i], 1e-5) << "layer " << i;
    EXPECT_NEAR(mlp.layers()[i].bias(0), 2.9 * grads[i], 1e-5) << "layer " << i;
  }
}

TEST(SgdMomentumMultiLayerTest, StepsDownhillOnARealBatch) {
  // A small step along the real gradient lowers the loss on the same batch.
  const ModelConfig config{.depth = 2, .width = 6, .input_dim = 4, .classes = 2};
  Mlp mlp(config);
  mlp.Initialize(*FindInitScheme("kaiming"), InitConfig{.weight_seed = 5});
  Rng rng(6);
  Matrix x(4, 8);
  for (float& v : x.reshaped()) v = rng.Normal();
  std::vector<int32_t> labels;
  for (int b = 0; b < 8; ++b) labels.push_back(static_cast<int32_t>(rng.Below(2)));
  Workspace ws(config, 8);
  SgdMomentum optimizer(mlp, /*lr=*/1e-2, /*momentum=*/0.9);
  const float before = SoftmaxCrossEntropy(mlp.Forward(x, ws), labels, &ws.dlogits);
  mlp.Backward(x, ws.dlogits, ws);
  optimizer.Step();
  const float after = SoftmaxCrossEntropy(mlp.Forward(x, ws), labels, nullptr);
  EXPECT_LT(after, before);
}

}  // namespace
}  // namespace ablate::core
