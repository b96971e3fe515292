// Tests of core/loss.h: fused softmax cross-entropy against hand values and a double-precision
// reference, its gradient against finite differences, its stability, and Accuracy.
#include "core/loss.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "core/random.h"

namespace ablate::core {
namespace {

Matrix Logits(int rows, int cols, std::initializer_list<float> column_major) {
  Matrix m(rows, cols);
  std::copy(column_major.begin(), column_major.end(), m.data());
  return m;
}

TEST(SoftmaxCrossEntropyTest, EqualLogitsGiveLogClasses) {
  const Matrix logits = Matrix::Constant(5, 3, 0.7f);
  const std::vector<int32_t> labels = {0, 2, 4};
  EXPECT_NEAR(SoftmaxCrossEntropy(logits, labels, nullptr), std::log(5.0), 1e-6);
}

TEST(SoftmaxCrossEntropyTest, HandComputedBatchMean) {
  // Column 0: logits (2, 0), label 0 → ln(1 + e⁻²) = 0.126928011.
  // Column 1: logits (0, 1), label 0 → ln(1 + e¹)  = 1.313261687.
  // Column 2: logits (3, 3), label 1 → ln 2         = 0.693147181.
  // Mean: 2.133336879 / 3 = 0.711112293.
  const Matrix logits = Logits(2, 3, {2, 0, 0, 1, 3, 3});
  const std::vector<int32_t> labels = {0, 0, 1};
  EXPECT_NEAR(SoftmaxCrossEntropy(logits, labels, nullptr), 0.711112293, 1e-6);

  // dL/dlogits = (softmax − onehot) / B, with B = 3:
  // column 0: softmax (0.880797, 0.119203) → (−0.119203, 0.119203) / 3
  // column 1: softmax (0.268941, 0.731059) → (−0.731059, 0.731059) / 3
  // column 2: softmax (0.5, 0.5)           → (0.5, −0.5) / 3
  Matrix dlogits(2, 3);
  SoftmaxCrossEntropy(logits, labels, &dlogits);
  const float expected[2][3] = {{-0.119203f / 3, -0.731059f / 3, 0.5f / 3},
                                {0.119203f / 3, 0.731059f / 3, -0.5f / 3}};
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(dlogits(r, c), expected[r][c], 1e-6) << r << c;
}

TEST(SoftmaxCrossEntropyTest, StableForHugeFiniteLogits) {
  // A naive exp(1000) overflows; the max-shifted log-sum-exp does not.
  const Matrix logits = Logits(2, 2, {1000, 0, -1000, 1000});
  EXPECT_NEAR(SoftmaxCrossEntropy(logits, std::vector<int32_t>{0, 1}, nullptr), 0.0, 1e-6);
  EXPECT_NEAR(SoftmaxCrossEntropy(logits, std::vector<int32_t>{1, 0}, nullptr), 1500.0, 1e-3);
  Matrix dlogits(2, 2);
  SoftmaxCrossEntropy(logits, std::vector<int32_t>{1, 0}, &dlogits);
  EXPECT_TRUE(dlogits.allFinite());
  EXPECT_NEAR(dlogits(0, 0), 0.5, 1e-6);  // (1 − 0) / 2
  EXPECT_NEAR(dlogits(1, 0), -0.5, 1e-6);
}

TEST(SoftmaxCrossEntropyTest, NonFiniteLogitsGiveNonFiniteLoss) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<int32_t> labels = {0, 1};
  EXPECT_FALSE(std::isfinite(SoftmaxCrossEntropy(Logits(2, 2, {nan, 0, 1, 2}), labels, nullptr)));
  EXPECT_FALSE(std::isfinite(SoftmaxCrossEntropy(Logits(2, 2, {inf, 0, 1, 2}), labels, nullptr)));
  EXPECT_FALSE(std::isfinite(SoftmaxCrossEntropy(Logits(2, 2, {1, 0, 1, -inf}), labels, nullptr)));
}

// Random logits and labels: C = 4 classes, B = 7.
class SoftmaxCrossEntropyRandomTest : public testing::Test {
 protected:
  void SetUp() override {
    Rng rng(31);
    for (float& v : logits_.reshaped()) v = 2.0f * rng.Normal();
    for (int b = 0; b < 7; ++b) labels_.push_back(static_cast<int32_t>(rng.Below(4)));
  }
  Matrix logits_{4, 7};
  std::vector<int32_t> labels_;
};

TEST_F(SoftmaxCrossEntropyRandomTest, MatchesDoubleReference) {
  // Independent reference in double: softmax by normalising exp(l), −log p[y], (p − onehot)/B.
  Matrix dlogits(4, 7);
  const float loss = SoftmaxCrossEntropy(logits_, labels_, &dlogits);
  double expected_loss = 0;
  for (int b = 0; b < 7; ++b) {
    const Eigen::VectorXd exps = logits_.col(b).cast<double>().array().exp();
    const Eigen::VectorXd p = exps / exps.sum();
    expected_loss -= std::log(p(labels_[b]));
    for (int c = 0; c < 4; ++c) {
      const double expected = (p(c) - (c == labels_[b] ? 1.0 : 0.0)) / 7.0;
      EXPECT_NEAR(dlogits(c, b), expected, 1e-7) << c << "," << b;
    }
  }
  EXPECT_NEAR(loss, expected_loss / 7.0, 2e-6);
  // Each column of (p − onehot)/B sums to zero.
  EXPECT_LT(dlogits.colwise().sum().cwiseAbs().maxCoeff(), 1e-7f);
}

TEST_F(SoftmaxCrossEntropyRandomTest, GradientMatchesFiniteDifferences) {
  // Through the float function itself; the loss is averaged in double and rounded to float
  // once, so with eps 1e-2 rounding adds ≲1e-5 and truncation (eps²/6 · f''') ≲1e-5.
  Matrix dlogits(4, 7);
  SoftmaxCrossEntropy(logits_, labels_, &dlogits);
  for (Eigen::Index i = 0; i < logits_.size(); ++i) {
    float& logit = logits_.data()[i];
    const float original = logit;
    const float plus = original + 1e-2f, minus = original - 1e-2f;
    logit = plus;
    const double loss_plus = SoftmaxCrossEntropy(logits_, labels_, nullptr);
    logit = minus;
    const double loss_minus = SoftmaxCrossEntropy(logits_, labels_, nullptr);
    logit = original;
    const double numeric = (loss_plus - loss_minus) / (double{plus} - double{minus});
    EXPECT_NEAR(dlogits.data()[i], numeric, 5e-5) << "logit " << i;
  }
}

TEST_F(SoftmaxCrossEntropyRandomTest, NullDlogitsGivesTheSameLoss) {
  Matrix dlogits(4, 7);
  EXPECT_EQ(SoftmaxCrossEntropy(logits_, labels_, nullptr),
            SoftmaxCrossEntropy(logits_, labels_, &dlogits));
}

TEST(AccuracyTest, CountsColumnsWhoseArgmaxIsTheLabel) {
  // argmax per column: 0, 1, 2, 1.
  const Matrix logits = Logits(3, 4, {5, 1, 0, 0, 2, 1, -1, -2, 0, 0, 3, -1});
  EXPECT_FLOAT_EQ(Accuracy(logits, std::vector<int32_t>{0, 1, 2, 1}), 1.0f);
  EXPECT_FLOAT_EQ(Accuracy(logits, std::vector<int32_t>{0, 1, 2, 0}), 0.75f);
  EXPECT_FLOAT_EQ(Accuracy(logits, std::vector<int32_t>{1, 0, 0, 2}), 0.0f);
}

TEST(AccuracyTest, AColumnWithANanIsWrongWhateverItsLabel) {
  // A diverged network's logits are all NaN. Their argmax would be index 0 (every comparison
  // with NaN is false), so without the guard every example labelled 0 would count as right.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Matrix all_nan = Matrix::Constant(2, 4, nan);
  EXPECT_EQ(Accuracy(all_nan, std::vector<int32_t>{0, 0, 0, 0}), 0.0f);
  EXPECT_EQ(Accuracy(all_nan, std::vector<int32_t>{0, 1, 0, 1}), 0.0f);
  // One NaN spoils its column only: columns 1 and 3 are finite and right (argmax 1 and 0).
  const Matrix some_nan = Logits(2, 4, {nan, 1, 0, 1, 5, nan, 2, -1});
  EXPECT_EQ(Accuracy(some_nan, std::vector<int32_t>{1, 1, 0, 0}), 0.5f);
  EXPECT_EQ(Accuracy(some_nan, std::vector<int32_t>{0, 1, 0, 0}), 0.5f);
}

}  // namespace
}  // namespace ablate::core
