#!/usr/bin/env bash
# Builds (if needed) and runs the core benchmarks, printing everything they print:
#   bench_core       core::Trainer on the core's own GEMM kernel (core/gemm.h; the default
#                    build, ABLATE_CORE_BLAS=OFF)
#   bench_core_blas  the same core compiled with EIGEN_USE_BLAS (GEMMs in OpenBLAS:
#                    ABLATE_CORE_BLAS=ON)
# then which of the two trained faster, the ABLATE_CORE_BLAS setting that picks it, and both
# cores against the machine's best sgemm (the faster of the two binaries' rooflines: only
# bench_core can measure the core's and Eigen's kernels beside OpenBLAS's). Each prints the
# training rate (steps/s, GFLOP/s), the single-core sgemm roofline at the step's GEMM shapes
# and the fraction of it achieved; bench_core (the default build's core) also runs
# tests/bench/torch_lab.py (PyTorch, one thread) when a python with torch is found, and prints
# Ablate's steps/s over PyTorch's.
#
# Usage: tests/bench/run-core-bench.sh [bench_core options]
#   e.g. tests/bench/run-core-bench.sh --steps 1000 --repeats 3 --warmup 100
#        tests/bench/run-core-bench.sh --no-torch
# Environment:
#   ABLATE_BUILD_DIR     build directory (default: <repo>/build); configured if it has no cache
#   ABLATE_BENCH_PYTHON  the python that has torch (default: python3 on the PATH, then
#                        /usr/bin/python3, where Debian's python3-torch lives)
# A benchmark, not a test: numbers only, nothing asserted, not run by ctest. Run it on an idle
# machine (the lab asks for the performance governor): other load shows up as lower, noisier
# rates, and the load average is printed at the start of each run for that reason.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${ABLATE_BUILD_DIR:-${repo}/build}"

if [[ ! -f "${build}/CMakeCache.txt" ]]; then
  cmake -S "${repo}" -B "${build}" -DCMAKE_BUILD_TYPE=Release -DABLATE_BUILD_TESTS=ON \
    -DABLATE_BUILD_BENCH=ON
fi
cmake --build "${build}" --target bench_core bench_core_blas -j "$(nproc)"

bench_dir="${build}/tests/bench"
# OpenBLAS reads this before bench_core's openblas_set_num_threads(1): no idle worker pool.
export OPENBLAS_NUM_THREADS=1

out_eigen="$(mktemp)"
out_blas="$(mktemp)"
trap 'rm -f "${out_eigen}" "${out_blas}"' EXIT

# PyTorch is compared once, against the server's default core.
"${bench_dir}/bench_core" "$@" | tee "${out_eigen}"
echo
"${bench_dir}/bench_core_blas" "$@" --no-torch | tee "${out_blas}"

best_rate() { sed -n 's/^  best \([0-9.]*\) steps\/s.*/\1/p' "$1"; }
eigen="$(best_rate "${out_eigen}")"
blas="$(best_rate "${out_blas}")"
# The machine's best sgemm roofline each binary measured, in GFLOP/s.
machine_roofline() {
  sed -n "s/^  machine's best sgemm, roofline (flop-weighted.*): \([0-9.]*\) GFLOP\/s.*/\1/p" "$1"
}
roof_eigen="$(machine_roofline "${out_eigen}")"
roof_blas="$(machine_roofline "${out_blas}")"
configured="$(sed -n 's/^ABLATE_CORE_BLAS:BOOL=//p' "${build}/CMakeCache.txt")"
echo
if [[ -n "${eigen}" && -n "${blas}" && -n "${roof_eigen}" && -n "${roof_blas}" ]]; then
  awk -v e="${eigen}" -v b="${blas}" -v re="${roof_eigen}" -v rb="${roof_blas}" \
      -v flops="$(sed -n 's/.*batch [0-9]*: \([0-9.]*\) GFLOP per step/\1/p' "${out_eigen}")" \
      -v configured="${configured:-unset}" 'BEGIN {
    if (b > e) { name = "EIGEN_USE_BLAS (GEMMs in OpenBLAS)"; hi = b; lo = e; want = "ON" }
    else       { name = "the core'"'"'s own kernel"; hi = e; lo = b; want = "OFF" }
    printf "== faster: %s, %.1f vs %.1f steps/s = %.2fx (+%.1f%%)\n", name, hi, lo, hi / lo,
           100 * (hi / lo - 1)
    roof = re > rb ? re : rb
    printf "== machine'"'"'s best sgemm at the step'"'"'s shapes: %.2f GFLOP/s; own-kernel core " \
           "%.2f GFLOP/s = %.1f%%, OpenBLAS core %.2f GFLOP/s = %.1f%% of it (goal 90%%)\n",
           roof, e * flops, 100 * e * flops / roof, b * flops, 100 * b * flops / roof
    printf "== this machine trains faster with -DABLATE_CORE_BLAS=%s; this build has %s%s\n",
           want, configured, (configured == want ? "" : ": reconfigure to change it")
  }'
else
  echo "== could not read both training rates and rooflines; see the output above"
fi
