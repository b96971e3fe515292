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
