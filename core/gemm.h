// The core's matrix products, with their rounding written down. Every element of a product is
// one chain of fused multiply-adds over the inner dimension, in order, from +0:
//
//   C(i, j) = fma(A(i, k−1), B(k−1, j), … fma(A(i, 1), B(1, j), fma(A(i, 0), B(0, j), +0)))
//
// so a product's bits depend on its operands alone: not on the CPU's vector width, the kernel's
// blocking or a BLAS. The core's AVX-512 kernel, built when the compiler targets AVX-512, gives
// exactly these bits, the same as the plain loop beside it (tests/core/gemm_test.cc). Elsewhere
// the products are Eigen's (its own kernels, or the BLAS with EIGEN_USE_BLAS), whose summation
// order is their own: KernelDescription says which, and the build fingerprint records it.
//
// Operands are column-major with contiguous columns: a Matrix, or a Map or block of one. The
// result must already have its shape and must not alias an operand.
#ifndef ABLATE_CORE_GEMM_H_
#define ABLATE_CORE_GEMM_H_

#include "core/tensor.h"

namespace ablate::core::gemm {

using In = Eigen::Ref<const Matrix>;
using Out = Eigen::Ref<Matrix>;

// c (m × n) = a (m × k) · b (k × n)
void Product(const In& a, const In& b, Out c);

// c (m × n) = a (m × k) · bᵀ, b (n × k)
void ProductTransposedB(const In& a, const In& b, Out c);

// c (m × n) = aᵀ · b, a (k × m), b (k × n)
void ProductTransposedA(const In& a, const In& b, Out c);

// Two of the training step's products with the elementwise pass that follows each, giving the
// bits of the product followed by the pass. The AVX-512 kernel applies the pass to each tile of
// c while the tile is still in registers, so c is written once and not read back; elsewhere the
// pass runs after the product.

// c = max(a · b + bias·1ᵀ, +0) elementwise: a hidden layer's bias and ReLU. The bias is added
// to each finished product, then max keeps a NaN (as std::max(x, 0.0f) does) and a −0.
void ProductAddBiasRelu(const In& a, const In& b, const Eigen::Ref<const Vector>& bias, Out c);

// c = aᵀ · b where gate > 0, +0 elsewhere (gate shaped as c): a layer's input gradient through
// the ReLU below it, whose output is the gate.
void ProductTransposedAGated(const In& a, const In& b, const In& gate, Out c);

// The same products by the plain loop that defines their bits, in every build: the reference
// the kernel is tested against (slow: not for training).
void PlainProduct(const In& a, const In& b, Out c);
void PlainProductTransposedB(const In& a, const In& b, Out c);
void PlainProductTransposedA(const In& a, const In& b, Out c);

// Whether Product and the others give the bits of the definition in this build (the AVX-512
// kernel), or Eigen's.
bool ProductsFollowTheDefinition();

// What the products run on: "the core's AVX-512 GEMM kernel (…)", "Eigen's own kernels (…)", ….
const char* KernelDescription();

}  // namespace ablate::core::gemm

#endif  // ABLATE_CORE_GEMM_H_
