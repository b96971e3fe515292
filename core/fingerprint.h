// What makes two trainings bit-identical, and this build's value of it.
//
// The same spec gives the same bits on two builds when all of these are equal, and in general
// not otherwise:
// - the core's code (a SHA-256 of core/'s sources, taken at build time);
// - the compiler and its flags (-O level, -march=native and so the instruction set the code
//   was compiled for, definitions such as EIGEN_USE_BLAS);
// - Eigen's version;
// - the BLAS that runs the products and the kernels it picked for this CPU (OpenBLAS's
//   DYNAMIC_ARCH chooses by CPU model at run time);
// - the C library's math (log, sin and cos in the data and init draws), by glibc version.
// The fingerprint's id is a hash of them. Each run records the id it trained under; a run
// resumed or compared under another id is said to be so, never claimed identical.
#ifndef ABLATE_CORE_FINGERPRINT_H_
#define ABLATE_CORE_FINGERPRINT_H_

#include <string>

namespace ablate::core {

struct BuildFingerprint {
  std::string id;            // "fp1-" and 16 hex digits of a hash of the parts below
  std::string core_sources;  // SHA-256 (hex) of core/'s .h and .cc files
  std::string compiler;      // "GNU 12.2.0"
  std::string flags;         // the core's compile flags and definitions
  std::string isa;           // instruction sets the code was compiled for: "avx512f avx2 fma ..."
  std::string eigen;         // "3.4.0"
  std::string blas;          // core::BlasDescription()
  std::string libm;          // "glibc 2.36"
  // One line per part, "id: ...\ncore sources: ...\n...".
  std::string Describe() const;
};

// This build's fingerprint, computed once.
const BuildFingerprint& ThisBuildFingerprint();

}  // namespace ablate::core

#endif  // ABLATE_CORE_FINGERPRINT_H_
