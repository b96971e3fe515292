#!/usr/bin/env bash
# Builds and runs the libFuzzer targets (tests/fuzz/CMakeLists.txt) for a bounded time.
#
#   run-fuzz.sh build BUILD_DIR           configure (clang++) and build both targets in BUILD_DIR
#   run-fuzz.sh run BUILD_DIR TARGET [SECONDS]
#                                         run TARGET (spec_fuzz, gateway_json_fuzz) for SECONDS
#                                         (default 30) from its seed corpus, tests/fuzz/corpus/
#                                         <name>; fails on any crash, leak, timeout or sanitizer
#                                         report, leaving the input in BUILD_DIR/artifacts/
#
# ctest runs these as fuzz.build, fuzz.spec and fuzz.gateway_json. The seed corpus is copied to
# a scratch directory first, so the inputs a run discovers never change the repository.
# The compiler is $ABLATE_FUZZ_CXX when set (ctest sets it to what CMake found), else clang++-14
# or clang++ on the PATH. Without one (Debian: clang-14, libclang-rt-14-dev) the test is skipped,
# or under CI (CI=true) failed (tests/support/skip.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "${here}/../support/skip.sh"
mode="${1:-}"
build="${2:-}"
if [[ -z "${mode}" || -z "${build}" ]]; then
  sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi

compiler=""
if [[ -n "${ABLATE_FUZZ_CXX:-}" ]]; then
  [[ -x "${ABLATE_FUZZ_CXX}" ]] && compiler="${ABLATE_FUZZ_CXX}"
else
  for c in clang++-14 clang++; do
    if command -v "${c}" >/dev/null; then compiler="$(command -v "${c}")"; break; fi
  done
fi
if [[ -z "${compiler}" ]]; then
  skip_missing_tool "clang++ ${ABLATE_FUZZ_CXX:+(${ABLATE_FUZZ_CXX}) }for the libFuzzer targets" \
    "packages clang-14 and libclang-rt-14-dev"
fi

case "${mode}" in
  build)
    start=${SECONDS}
    launcher=()
    if command -v ccache >/dev/null && [[ -n "${CCACHE_DIR:-}" ]]; then
      launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    fi
    cmake -S "${here}" -B "${build}" -DCMAKE_CXX_COMPILER="${compiler}" "${launcher[@]}" >/dev/null
    cmake --build "${build}" -j 2
    echo "run-fuzz.sh: built in $((SECONDS - start)) s"
    ;;
  run)
    target="${3:?run-fuzz.sh run BUILD_DIR TARGET [SECONDS]}"
    seconds="${4:-30}"
    binary="${build}/${target}"
    seeds="${here}/corpus/${target%_fuzz}"
    [[ -x "${binary}" ]] || { echo "run-fuzz.sh: ${binary} is not built (run-fuzz.sh build)" >&2; exit 1; }
    [[ -d "${seeds}" ]] || { echo "run-fuzz.sh: no seed corpus ${seeds}" >&2; exit 1; }
    work="$(mktemp -d "${TMPDIR:-/tmp}/ablate-fuzz-${target}.XXXXXX")"
    trap 'rm -rf "${work}"' EXIT
    mkdir -p "${work}/corpus" "${build}/artifacts"
    cp "${seeds}"/* "${work}/corpus/"
    # One job, bounded in time, memory and per-input time; -max_len covers the largest seeds
    # with room for the fuzzer to grow them.
    "${binary}" -max_total_time="${seconds}" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
      -print_final_stats=1 -artifact_prefix="${build}/artifacts/${target}-" "${work}/corpus"
    ;;
  *)
    echo "run-fuzz.sh: unknown mode '${mode}' (build or run)" >&2
    exit 2
    ;;
esac
