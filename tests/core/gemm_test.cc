// core/gemm.h: the products give the bits of their definition (one FMA chain per element, in
// order, from +0) at every shape the kernel tiles differently, and they are products.
#include "core/gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace ablate::core {
namespace {

Matrix Random(Eigen::Index rows, Eigen::Index cols, std::mt19937& gen) {
  // Magnitudes over several decades, both signs: rounding differs wherever order does.
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-8, 8);
  Matrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) {
    m.data()[i] = std::ldexp(normal(gen), exponent(gen));
  }
  return m;
}

bool SameBits(const Matrix& x, const Matrix& y) {
  return x.rows() == y.rows() && x.cols() == y.cols() &&
         std::memcmp(x.data(), y.data(), sizeof(float) * x.size()) == 0;
}

// |c − exact| within k·ε·Σ|a||b| per element (the usual bound for any summation order), the
// exact product taken in double.
void ExpectNearExact(const Matrix& c, const Eigen::MatrixXd& exact, const Eigen::MatrixXd& abs,
                     Eigen::Index k) {
  const double eps = std::numeric_limits<float>::epsilon();
  for (Eigen::Index i = 0; i < c.size(); ++i) {
    ASSERT_LE(std::abs(c.data()[i] - exact.data()[i]), (k + 1) * eps * abs.data()[i] + 1e-30)
        << "element " << i;
  }
}

struct Shape {
  Eigen::Index m, n, k;
};

// Every remainder of the kernel's 32 × 8 tiles and 16-row vectors, its 256-deep panels (each
// product continues its chains from one panel to the next), and the lab's shapes.
std::vector<Shape> Shapes() {
  std::vector<Shape> shapes;
  for (Eigen::Index m : {1, 2, 15, 16, 17, 31, 32, 33, 48, 64, 100}) {
    for (Eigen::Index n : {1, 7, 8, 9, 17}) {
      for (Eigen::Index k : {0, 1, 2, 15, 16, 17, 40, 255, 256, 257, 600}) {
        shapes.push_back({m, n, k});
      }
    }
  }
  for (Shape s : {Shape{256, 64, 256}, Shape{256, 256, 64}, Shape{2, 64, 256},
                  Shape{2, 256, 64}, Shape{256, 64, 2}}) {
    shapes.push_back(s);
  }
  return shapes;
}

std::string Name(const Shape& s) {
  return std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k);
}

// The bit-for-bit tests need the kernel; Eigen's products (no AVX-512, or EIGEN_USE_BLAS) are
// still checked to be products, by the bound.
#define SKIP_UNLESS_THE_KERNEL_IS_BUILT()                                                  \
  if (!gemm::ProductsFollowTheDefinition()) {                                              \
    GTEST_SKIP() << "this build's products are " << gemm::KernelDescription()             \
                 << ", whose summation order is their own";                               \
  }

// One of the products against its definition at every shape, and against the exact product:
// a is stored (m × k) or, for aᵀ, (k × m); b (k × n) or, for bᵀ, (n × k).
void ExpectTheDefinitionsBits(bool transposed_a, bool transposed_b, uint32_t seed) {
  using Product = void (*)(const gemm::In&, const gemm::In&, gemm::Out);
  const Product fast_product = transposed_a   ? gemm::ProductTransposedA
                               : transposed_b ? gemm::ProductTransposedB
                                              : gemm::Product;
  const Product plain_product = transposed_a   ? gemm::PlainProductTransposedA
                                : transposed_b ? gemm::PlainProductTransposedB
                                               : gemm::PlainProduct;
  std::mt19937 gen(seed);
  for (const Shape& s : Shapes()) {
    const Matrix a = transposed_a ? Random(s.k, s.m, gen) : Random(s.m, s.k, gen);
    const Matrix b = transposed_b ? Random(s.n, s.k, gen) : Random(s.k, s.n, gen);
    Matrix fast(s.m, s.n), plain(s.m, s.n);
    fast_product(a, b, fast);
    plain_product(a, b, plain);
    if (gemm::ProductsFollowTheDefinition()) {
      ASSERT_TRUE(SameBits(fast, plain)) << Name(s);
    }
    const Eigen::MatrixXd op_a =
        transposed_a ? Eigen::MatrixXd(a.cast<double>().transpose()) : a.cast<double>();
    const Eigen::MatrixXd op_b =
        transposed_b ? Eigen::MatrixXd(b.cast<double>().transpose()) : b.cast<double>();
    ExpectNearExact(fast, op_a * op_b, op_a.cwiseAbs() * op_b.cwiseAbs(), s.k);
  }
}

TEST(GemmTest, ProductGivesTheBitsOfItsDefinition) {
  ExpectTheDefinitionsBits(/*transposed_a=*/false, /*transposed_b=*/false, 1);
}

TEST(GemmTest, ProductTransposedBGivesTheBitsOfItsDefinition) {
  ExpectTheDefinitionsBits(/*transposed_a=*/false, /*transposed_b=*/true, 2);
}

TEST(GemmTest, ProductTransposedAGivesTheBitsOfItsDefinition) {
  ExpectTheDefinitionsBits(/*transposed_a=*/true, /*transposed_b=*/false, 3);
}

// The definition by hand: the chain is in order (float addition is not associative, so another
// order gives another float here) and starts from +0.
TEST(GemmTest, EachElementIsOneChainInOrderFromPlusZero) {
  SKIP_UNLESS_THE_KERNEL_IS_BUILT();
  // 1 + 2⁻²⁴ + 2⁻²⁴ in order rounds twice back to 1; summed as 1 + (2⁻²⁴ + 2⁻²⁴) it is 1 + 2⁻²³.
  const float tiny = std::ldexp(1.0f, -24);
  Matrix a(1, 3), b(3, 1), c(1, 1);
  a << 1.0f, tiny, tiny;
  b << 1.0f, 1.0f, 1.0f;
  gemm::Product(a, b, c);
  EXPECT_EQ(c(0, 0), 1.0f);
  a << tiny, tiny, 1.0f;
  gemm::Product(a, b, c);
  EXPECT_EQ(c(0, 0), 1.0f + std::ldexp(1.0f, -23));
  // −1 · +0 = −0, and −0 + (+0) = +0.
  Matrix x(1, 1), y(1, 1);
  x << -1.0f;
  y << 0.0f;
  gemm::Product(x, y, c);
  EXPECT_EQ(c(0, 0), 0.0f);
  EXPECT_FALSE(std::signbit(c(0, 0)));
  // An empty inner dimension gives +0 everywhere.
  Matrix e(3, 0), f(0, 5), g = Matrix::Constant(3, 5, 7.0f);
  gemm::Product(e, f, g);
  EXPECT_TRUE(g.isZero());
  Matrix ft(5, 0), h = Matrix::Constant(3, 5, 7.0f);
  gemm::ProductTransposedB(e, ft, h);
  EXPECT_TRUE(h.isZero());
  Matrix et(0, 3), i = Matrix::Constant(3, 5, 7.0f);
  gemm::ProductTransposedA(et, f, i);
  EXPECT_TRUE(i.isZero());
}

TEST(GemmTest, NonFiniteValuesPropagateAsInTheDefinition) {
  SKIP_UNLESS_THE_KERNEL_IS_BUILT();
  std::mt19937 gen(4);
  Matrix a = Random(40, 300, gen), b = Random(300, 9, gen);
  a(3, 7) = std::numeric_limits<float>::quiet_NaN();
  a(20, 100) = std::numeric_limits<float>::infinity();
  b(100, 2) = 0.0f;  // ∞ · 0 = NaN
  b(250, 5) = -std::numeric_limits<float>::infinity();
  Matrix fast(40, 9), plain(40, 9);
  gemm::Product(a, b, fast);
  gemm::PlainProduct(a, b, plain);
  EXPECT_TRUE(SameBits(fast, plain));
  EXPECT_TRUE(std::isnan(fast(3, 0)));
  EXPECT_TRUE(std::isnan(fast(20, 2)));
  EXPECT_FALSE(std::isfinite(fast(0, 5)));
}

// Blocks of larger matrices (column stride above their row count) are read and written in
// place, and the rest of the larger matrix is left alone.
TEST(GemmTest, BlocksOfLargerMatricesWork) {
  SKIP_UNLESS_THE_KERNEL_IS_BUILT();
  std::mt19937 gen(5);
  const Matrix big_a = Random(300, 300, gen), big_b = Random(300, 300, gen);
  Matrix big_c = Matrix::Constant(300, 300, 5.0f);
  const auto a = big_a.block(3, 5, 70, 260);
  const auto b = big_b.block(1, 2, 260, 20);
  gemm::ProductTransposedA(big_a.block(3, 5, 260, 70), b, big_c.block(10, 20, 70, 20));
  Matrix plain(70, 20);
  gemm::PlainProductTransposedA(Matrix(big_a.block(3, 5, 260, 70)), Matrix(b), plain);
  EXPECT_TRUE(SameBits(big_c.block(10, 20, 70, 20), plain));
  gemm::Product(a, b, big_c.block(10, 20, 70, 20));
  gemm::PlainProduct(Matrix(a), Matrix(b), plain);
  EXPECT_TRUE(SameBits(big_c.block(10, 20, 70, 20), plain));
  big_c.block(10, 20, 70, 20).setConstant(5.0f);
  EXPECT_TRUE((big_c.array() == 5.0f).all());
}

// Values a ReLU and its mask treat specially, sprinkled over a matrix: NaN, ±∞, ±0, and the
// smallest subnormals of each sign.
void Sprinkle(Matrix& m, std::mt19937& gen) {
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            0.0f,
                            -0.0f,
                            std::numeric_limits<float>::denorm_min(),
                            -std::numeric_limits<float>::denorm_min()};
  if (m.size() == 0) return;
  std::uniform_int_distribution<Eigen::Index> at(0, m.size() - 1);
  for (Eigen::Index i = 0; i < m.size() / 8 + 1; ++i) {
    m.data()[at(gen)] = specials[i % std::size(specials)];
  }
}

// Every element the same bits, except that a NaN may be any NaN: which of two NaN operands an
// addition returns is the first operand's on x86, but a + b and b + a are the same expression to
// the compiler, which orders them as it likes (in Eigen's code as in the kernel's).
bool SameBitsOrBothNaN(const Matrix& x, const Matrix& y) {
  if (x.rows() != y.rows() || x.cols() != y.cols()) return false;
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    const float a = x.data()[i], b = y.data()[i];
    if (std::isnan(a) && std::isnan(b)) continue;
    if (std::memcmp(&a, &b, sizeof a) != 0) return false;
  }
  return true;
}

// The products with their pass give the bits of the product followed by the reference's pass
// (core/model.cc: Linear::Forward's bias, ReLU::Forward and ReLU::Backward), at every shape and
// on non-finite and signed-zero values, in every build.
TEST(GemmTest, ProductAddBiasReluIsTheProductThenBiasThenRelu) {
  std::mt19937 gen(6);
  for (const Shape& s : Shapes()) {
    Matrix a = Random(s.m, s.k, gen), b = Random(s.k, s.n, gen);
    Vector bias = Random(s.m, 1, gen);
    // A bias that cancels a one-term product exactly: a sum of ±0.
    if (s.k == 1) bias(0) = -(a(0, 0) * b(0, 0));
    Sprinkle(a, gen);
    Matrix bias_matrix = bias;
    Sprinkle(bias_matrix, gen);
    bias = bias_matrix;
    Matrix fused(s.m, s.n), pre(s.m, s.n), post(s.m, s.n);
    gemm::ProductAddBiasRelu(a, b, bias, fused);
    gemm::Product(a, b, pre);
    pre.colwise() += bias;
    post = pre.cwiseMax(0.0f);
    ASSERT_TRUE(SameBitsOrBothNaN(fused, post)) << Name(s);
  }
}

TEST(GemmTest, ProductTransposedAGatedIsTheProductThenTheReluMask) {
  std::mt19937 gen(7);
  for (const Shape& s : Shapes()) {
    Matrix a = Random(s.k, s.m, gen), b = Random(s.k, s.n, gen), gate = Random(s.m, s.n, gen);
    Sprinkle(a, gen);
    Sprinkle(gate, gen);
    Matrix fused(s.m, s.n), masked(s.m, s.n);
    gemm::ProductTransposedAGated(a, b, gate, fused);
    gemm::ProductTransposedA(a, b, masked);
    masked = (gate.array() > 0.0f).select(masked, 0.0f);
    ASSERT_TRUE(SameBitsOrBothNaN(fused, masked)) << Name(s);
  }
}

TEST(GemmTest, ProductsWithAPassRefuseAMismatchedBiasOrGate) {
  const Matrix a = Matrix::Ones(4, 3), b = Matrix::Ones(3, 2);
  Matrix c(4, 2);
  EXPECT_THROW(gemm::ProductAddBiasRelu(a, b, Vector::Ones(3), c), std::logic_error);
  EXPECT_THROW(gemm::ProductTransposedAGated(Matrix::Ones(3, 4), b, Matrix::Ones(4, 3), c),
               std::logic_error);
}

}  // namespace
}  // namespace ablate::core
