// The BLAS the core's matrix products go to when it is built with EIGEN_USE_BLAS (OpenBLAS),
// and the one setting the core needs of it.
//
// Why this is a process-wide guarantee rather than a call in the trainer: OpenBLAS's threaded
// build splits a product over every core unless told otherwise, and some of Eigen's algorithms
// (the QR behind the orthogonal init) give different last bits when their products run on
// several threads. A setting applied when the first run starts training comes too late for that
// run's init, so the first run of a process drew other weights than every later run. The core
// trains one run per thread, so the BLAS is set to one thread before main, in every program
// that uses the core's tensors (tensor.h includes this header).
#ifndef ABLATE_CORE_BLAS_H_
#define ABLATE_CORE_BLAS_H_

#include <string>

namespace ablate::core {

// What the products run on: "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64,
// kernels for SkylakeX" (the kernels DYNAMIC_ARCH chose for this CPU) with EIGEN_USE_BLAS,
// otherwise gemm::KernelDescription(): the core's AVX-512 kernel, or Eigen's own kernels.
std::string BlasDescription();

// The number of threads the BLAS may use for one product: 1 once the core is loaded.
int BlasThreads();

namespace internal {
// Sets the BLAS to one thread. Runs during static initialisation through kBlasOnOneThread.
bool UseOneBlasThread();
inline const bool kBlasOnOneThread = UseOneBlasThread();
}  // namespace internal

}  // namespace ablate::core

#endif  // ABLATE_CORE_BLAS_H_
