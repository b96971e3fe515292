// The core's one tensor type. A batch is stored one example per column, so a Linear layer is
// one GEMM, W (out × in) · X (in × B), over contiguous columns.
#ifndef ABLATE_CORE_TENSOR_H_
#define ABLATE_CORE_TENSOR_H_

#include <Eigen/Core>

#include "core/blas.h"  // the BLAS runs products on one thread (see there)

namespace ablate::core {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
using Vector = Eigen::VectorXf;

}  // namespace ablate::core

#endif  // ABLATE_CORE_TENSOR_H_
