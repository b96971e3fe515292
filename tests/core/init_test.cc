// Tests of core/init.h: each scheme fills with the variance it states, orthogonal is
// orthogonal, the registry finds what it holds, and the ReLU variance gains of lab 1.
#include "core/init.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>

#include "core/model.h"

namespace ablate::core {
namespace {

// Population variance, accumulated in double.
double Variance(const Matrix& m) {
  const Eigen::ArrayXXd values = m.cast<double>().array();
  return (values - values.mean()).square().mean();
}

double Mean(const Matrix& m) { return m.cast<double>().mean(); }

Matrix Fill(std::string_view scheme_name, int fan_out, int fan_in, const InitConfig& init,
            uint64_t seed) {
  const InitScheme* scheme = FindInitScheme(scheme_name);
  EXPECT_NE(scheme, nullptr) << scheme_name;
  Matrix w = Matrix::Zero(fan_out, fan_in);
  Rng rng(seed);
  scheme->fill(w, init, rng);
  return w;
}

// The lab's three inits on a 256×256 layer. The sample variance of 65536 weights has a
// relative standard error of at most sqrt(2/65536) ≈ 0.55 %, so 5 % is a loose, safe bound.
TEST(InitTest, UniformVarianceIsOneTwelfth) {
  const Matrix w = Fill("uniform", 256, 256, InitConfig{.scheme = "uniform"}, 1);
  EXPECT_NEAR(Variance(w), 1.0 / 12.0, 0.05 / 12.0);
  EXPECT_NEAR(Mean(w), 0.0, 0.01);
  EXPECT_GE(w.minCoeff(), -0.5f);
  EXPECT_LT(w.maxCoeff(), 0.5f);
}

TEST(InitTest, XavierVarianceIsOneOverFanIn) {
  const Matrix w = Fill("xavier", 256, 256, InitConfig{.scheme = "xavier"}, 2);
  EXPECT_NEAR(Variance(w), 1.0 / 256, 0.05 / 256);
  EXPECT_NEAR(Mean(w), 0.0, 0.002);
}

TEST(InitTest, KaimingVarianceIsTwoOverFanIn) {
  const Matrix w = Fill("kaiming", 256, 256, InitConfig{.scheme = "kaiming"}, 3);
  EXPECT_NEAR(Variance(w), 2.0 / 256, 0.05 * 2.0 / 256);
  EXPECT_NEAR(Mean(w), 0.0, 0.003);
}

TEST(InitTest, UniformHonoursCustomBounds) {
  const InitConfig init{.scheme = "uniform", .uniform_low = -0.2, .uniform_high = 0.6};
  const Matrix w = Fill("uniform", 128, 64, init, 4);
  EXPECT_GE(w.minCoeff(), -0.2f);
  EXPECT_LE(w.maxCoeff(), 0.6f);
  EXPECT_NEAR(Mean(w), 0.2, 0.01);
  EXPECT_NEAR(Variance(w), 0.8 * 0.8 / 12.0, 0.05 * 0.8 * 0.8 / 12.0);
}

// Every registered scheme, on square, wide and tall layers: the sample variance matches the
// scheme's own `variance` function.
TEST(InitTest, EverySchemeFillsWithTheVarianceItStates) {
  const InitConfig init{.uniform_low = -0.3, .uniform_high = 0.3};
  struct Shape {
    int fan_out, fan_in;
  };
  for (const InitScheme& scheme : InitSchemes()) {
    for (const Shape shape : {Shape{256, 256}, Shape{128, 512}, Shape{512, 128}}) {
      SCOPED_TRACE(std::string(scheme.name) + " " + std::to_string(shape.fan_out) + "x" +
                   std::to_string(shape.fan_in));
      const Matrix w = Fill(scheme.name, shape.fan_out, shape.fan_in, init, 5);
      const double stated = scheme.variance(shape.fan_in, shape.fan_out, init);
      ASSERT_GT(stated, 0.0);
      EXPECT_NEAR(Variance(w), stated, 0.05 * stated);
      EXPECT_TRUE(w.allFinite());
    }
  }
}

TEST(InitTest, EverySchemeIsDocumentedAndFoundByName) {
  std::set<std::string_view> names;
  for (const InitScheme& scheme : InitSchemes()) {
    EXPECT_FALSE(scheme.name.empty());
    EXPECT_FALSE(scheme.formula.empty()) << scheme.name;
    EXPECT_FALSE(scheme.reference.empty()) << scheme.name;
    EXPECT_NE(scheme.variance, nullptr) << scheme.name;
    EXPECT_NE(scheme.fill, nullptr) << scheme.name;
    EXPECT_EQ(FindInitScheme(scheme.name), &scheme) << scheme.name;
    names.insert(scheme.name);
  }
  EXPECT_EQ(names.size(), InitSchemes().size()) << "scheme names must be unique";
  for (const char* lab_scheme : {"uniform", "xavier", "kaiming"}) {
    EXPECT_TRUE(names.contains(lab_scheme)) << lab_scheme;
  }
}

TEST(InitTest, UnknownNamesGiveNullptr) {
  EXPECT_EQ(FindInitScheme(""), nullptr);
  EXPECT_EQ(FindInitScheme("he"), nullptr);
  EXPECT_EQ(FindInitScheme("Kaiming"), nullptr);
  EXPECT_EQ(FindInitScheme("kaiming "), nullptr);
  EXPECT_EQ(FindInitScheme("xavier_"), nullptr);
}

TEST(InitTest, OrthogonalSquareGivesIdentityGram) {
  const Matrix w = Fill("orthogonal", 128, 128, InitConfig{}, 6);
  const Matrix gram = w * w.transpose();
  EXPECT_LT((gram - Matrix::Identity(128, 128)).cwiseAbs().maxCoeff(), 1e-4f);
  const Matrix gram_t = w.transpose() * w;
  EXPECT_LT((gram_t - Matrix::Identity(128, 128)).cwiseAbs().maxCoeff(), 1e-4f);
}

TEST(InitTest, OrthogonalRectangularHasOrthonormalShortSide) {
  // Wide (fan_out < fan_in): orthonormal rows. Tall: orthonormal columns.
  const Matrix wide = Fill("orthogonal", 32, 96, InitConfig{}, 7);
  EXPECT_LT((wide * wide.transpose() - Matrix::Identity(32, 32)).cwiseAbs().maxCoeff(), 1e-5f);
  const Matrix tall = Fill("orthogonal", 96, 32, InitConfig{}, 8);
  EXPECT_LT((tall.transpose() * tall - Matrix::Identity(32, 32)).cwiseAbs().maxCoeff(), 1e-5f);
}

TEST(InitTest, OrthogonalVarianceIsOneOverTheLargerFan) {
  // A matrix with orthonormal rows (or columns) along its short side k has Σw² = k exactly, so
  // the mean square of its k·K entries is 1/K, K the larger fan: 1/256, 1/512, 1/512. The mean
  // of the entries is ~0 (its square is ~1e-8 of that), so the variance is 1/K too.
  const InitScheme& orthogonal = *FindInitScheme("orthogonal");
  EXPECT_DOUBLE_EQ(orthogonal.variance(256, 256, InitConfig{}), 1.0 / 256);
  EXPECT_DOUBLE_EQ(orthogonal.variance(512, 128, InitConfig{}), 1.0 / 512);
  EXPECT_DOUBLE_EQ(orthogonal.variance(128, 512, InitConfig{}), 1.0 / 512);
  EXPECT_NEAR(Variance(Fill("orthogonal", 256, 256, InitConfig{}, 12)), 1.0 / 256, 1e-3 / 256);
  EXPECT_NEAR(Variance(Fill("orthogonal", 128, 512, InitConfig{}, 13)), 1.0 / 512, 1e-3 / 512);
  EXPECT_NEAR(Variance(Fill("orthogonal", 512, 128, InitConfig{}, 14)), 1.0 / 512, 1e-3 / 512);
}

TEST(InitTest, OrthogonalIsNotTheTrivialIdentity) {
  // The sign fix (Mezzadri 2007) must not collapse the draw onto I or a permutation.
  const Matrix w = Fill("orthogonal", 64, 64, InitConfig{}, 9);
  EXPECT_GT((w - Matrix::Identity(64, 64)).norm(), 1.0f);
  EXPECT_LT(w.cwiseAbs().maxCoeff(), 0.9f);
}

TEST(InitTest, SameSeedSameWeightsOtherSeedOtherWeights) {
  for (const InitScheme& scheme : InitSchemes()) {
    SCOPED_TRACE(std::string(scheme.name));
    const Matrix a = Fill(scheme.name, 16, 24, InitConfig{}, 10);
    const Matrix b = Fill(scheme.name, 16, 24, InitConfig{}, 10);
    const Matrix c = Fill(scheme.name, 16, 24, InitConfig{}, 11);
    EXPECT_TRUE(a == b);
    EXPECT_FALSE(a == c);
  }
}

TEST(InitTest, ReluVarianceGainOfTheLabsInitsAt256) {
  const InitConfig lab_uniform{.scheme = "uniform"};
  // n_in · Var(w) / 2 with Var = 1/12, 1/n_in and 2/n_in.
  EXPECT_DOUBLE_EQ(ReluVarianceGain(*FindInitScheme("uniform"), 256, 256, lab_uniform),
                   256.0 / 12.0 / 2.0);
  EXPECT_DOUBLE_EQ(ReluVarianceGain(*FindInitScheme("xavier"), 256, 256, InitConfig{}), 0.5);
  EXPECT_DOUBLE_EQ(ReluVarianceGain(*FindInitScheme("kaiming"), 256, 256, InitConfig{}), 1.0);
  // The fan-in schemes' gains do not depend on the width; the uniform one grows with it.
  EXPECT_DOUBLE_EQ(ReluVarianceGain(*FindInitScheme("kaiming"), 17, 3, InitConfig{}), 1.0);
  EXPECT_DOUBLE_EQ(ReluVarianceGain(*FindInitScheme("kaiming_uniform"), 64, 64, InitConfig{}), 1.0);
  EXPECT_DOUBLE_EQ(ReluVarianceGain(*FindInitScheme("xavier_uniform"), 256, 256, InitConfig{}),
                   0.5);
  EXPECT_DOUBLE_EQ(ReluVarianceGain(*FindInitScheme("uniform"), 512, 512, lab_uniform),
                   512.0 / 24.0);
}

TEST(InitTest, MlpInitializeDrawsLayerByLayerFromTheWeightSeedAndZeroesBiases) {
  const ModelConfig model{.depth = 3, .width = 8, .input_dim = 5, .classes = 2};
  const InitConfig init{.scheme = "xavier", .weight_seed = 42};
  const InitScheme& scheme = *FindInitScheme("xavier");
  Mlp mlp(model);
  for (Linear& layer : mlp.layers()) layer.bias.setConstant(3.0f);
  mlp.Initialize(scheme, init);

  // One generator, seeded by weight_seed, feeds the layers in order.
  Rng rng(42);
  for (size_t i = 0; i < mlp.layers().size(); ++i) {
    const Linear& layer = mlp.layers()[i];
    Matrix expected(layer.out(), layer.in());
    scheme.fill(expected, init, rng);
    EXPECT_TRUE(layer.weight == expected) << "layer " << i;
    EXPECT_TRUE(layer.bias.isZero(0.0f)) << "layer " << i;
  }

  Mlp other(model);
  other.Initialize(scheme, InitConfig{.scheme = "xavier", .weight_seed = 43});
  EXPECT_FALSE(other.layers()[0].weight == mlp.layers()[0].weight);
}

}  // namespace
}  // namespace ablate::core
