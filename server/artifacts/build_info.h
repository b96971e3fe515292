// What manifest.json records about the program that built a job's files.
#ifndef ABLATE_SERVER_ARTIFACTS_BUILD_INFO_H_
#define ABLATE_SERVER_ARTIFACTS_BUILD_INFO_H_

#include <string>

namespace ablate::artifacts {

struct BuildInfo {
  std::string version;     // Ablate's version, "0.1.0"
  std::string git_commit;  // 40 hex digits, "-dirty" when built from a modified tree, or "unknown"
  std::string compiler;    // "GNU 12.2.0"
  std::string flags;       // the C++ compile flags, "-O3 -DNDEBUG -Wall ... -march=native"
  std::string build_type;  // "Release"
  std::string eigen_version;  // "3.4.0"
  // What runs the core's matrix products in this binary, whose summation order sets a
  // trajectory's last bits: "the core's AVX-512 GEMM kernel (...)", or the BLAS and its kernels
  // (core::BlasDescription()). Runs trained elsewhere (Slurm workers) carry their own
  // fingerprint.
  std::string matrix_products;
  std::string libraries;      // what else the files depend on, "PLplot 5.15.0, libzip 1.7.3, ..."
};

// This binary's BuildInfo: CMake's record of the build (server/artifacts/CMakeLists.txt; the git
// commit is looked up at every build) and the libraries' own version macros.
BuildInfo ThisBuild();

}  // namespace ablate::artifacts

#endif  // ABLATE_SERVER_ARTIFACTS_BUILD_INFO_H_
