#include "core/blas.h"

#include "core/gemm.h"

#ifdef EIGEN_USE_BLAS
extern "C" {
void openblas_set_num_threads(int threads);
int openblas_get_num_threads();
char* openblas_get_config();
char* openblas_get_corename();
}
#endif

namespace ablate::core {

std::string BlasDescription() {
#ifdef EIGEN_USE_BLAS
  return std::string(openblas_get_config()) + ", kernels for " + openblas_get_corename();
#else
  return gemm::KernelDescription();
#endif
}

int BlasThreads() {
#ifdef EIGEN_USE_BLAS
  return openblas_get_num_threads();
#else
  return 1;
#endif
}

namespace internal {

bool UseOneBlasThread() {
#ifdef EIGEN_USE_BLAS
  // OpenBLAS initialises itself in its shared library's constructor, which the dynamic loader
  // runs before this program's static initialisers: it is ready to be told.
  openblas_set_num_threads(1);
#endif
  return true;
}

}  // namespace internal

}  // namespace ablate::core
