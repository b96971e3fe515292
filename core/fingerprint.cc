#include "core/fingerprint.h"

#include <gnu/libc-version.h>

#include <Eigen/Core>
#include <cstdio>

#include "core/blas.h"
#include "core/checkpoint.h"
#include "core/fingerprint_config.h"

namespace ablate::core {

namespace {

constexpr char kCoreSources[] =
#include "core/core_sources.inc"
    ;

std::string CompiledIsa() {
  std::string isa;
  auto add = [&isa](const char* name) { isa += isa.empty() ? name : std::string(" ") + name; };
#ifdef __AVX512F__
  add("avx512f");
#endif
#ifdef __AVX512BW__
  add("avx512bw");
#endif
#ifdef __AVX512VL__
  add("avx512vl");
#endif
#ifdef __AVX512DQ__
  add("avx512dq");
#endif
#ifdef __AVX2__
  add("avx2");
#endif
#ifdef __FMA__
  add("fma");
#endif
#ifdef __AVX__
  add("avx");
#endif
#ifdef __SSE4_2__
  add("sse4.2");
#endif
#ifdef __SSE2__
  add("sse2");
#endif
#ifdef __aarch64__
  add("aarch64");
#endif
  return isa.empty() ? "baseline" : isa;
}

BuildFingerprint Compute() {
  BuildFingerprint f;
  f.core_sources = kCoreSources;
  f.compiler = ABLATE_CORE_COMPILER;
  f.flags = ABLATE_CORE_FLAGS;
  f.isa = CompiledIsa();
  f.eigen = std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." +
            std::to_string(EIGEN_MINOR_VERSION);
  f.blas = BlasDescription();
  f.libm = std::string("glibc ") + gnu_get_libc_version();
  std::string all;
  for (const std::string* part :
       {&f.core_sources, &f.compiler, &f.flags, &f.isa, &f.eigen, &f.blas, &f.libm}) {
    all += *part;
    all += '\n';
  }
  // Two CRC-32Cs of the parts, seeded apart: an identifier, not a security measure.
  char id[32];
  std::snprintf(id, sizeof id, "fp1-%08x%08x", Crc32c(all), Crc32c(all, 0x9E3779B9u));
  f.id = id;
  return f;
}

}  // namespace

std::string BuildFingerprint::Describe() const {
  return "id: " + id + "\ncore sources: sha256 " + core_sources + "\ncompiler: " + compiler +
         "\nflags: " + flags + "\ninstruction sets: " + isa + "\nEigen: " + eigen +
         "\nBLAS: " + blas + "\nmath library: " + libm + "\n";
}

const BuildFingerprint& ThisBuildFingerprint() {
  static const BuildFingerprint fingerprint = Compute();
  return fingerprint;
}

}  // namespace ablate::core
