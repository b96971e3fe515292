#!/usr/bin/env bash
# The full load test (issue 7): 20 submitting clients and 100 watchers against one
# ablate-server on 127.0.0.1 (tests/load/load.cc says what it measures and checks). It takes
# about a minute or more, so it is not in ctest; ctest runs a short configuration (load.short).
#
# Usage: tests/load/run-load.sh [ablate_load flags...]
#   default: --submitters 20 --jobs 5 --watchers 100 --steps 200 --depth 4 --width 32
#   later flags override these, e.g. --jobs 10 --timeout 900
# Environment:
#   ABLATE_BUILD_DIR  build directory (default: <repo>/build); configured if it has no cache
# Exits with ablate_load's status: 0 when no step was lost, duplicated or out of order.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${ABLATE_BUILD_DIR:-${repo}/build}"
if [[ ! -f "${build}/CMakeCache.txt" ]]; then
  cmake -S "${repo}" -B "${build}" -DABLATE_BUILD_TESTS=ON
fi
cmake --build "${build}" --target ablate-server ablate_load -j 2

echo "uptime: $(uptime)"
status=0
"${build}/tests/load/ablate_load" --server "${build}/server/ablate-server" \
  --submitters 20 --jobs 5 --watchers 100 --steps 200 --depth 4 --width 32 "$@" || status=$?
echo "uptime: $(uptime)"
exit "${status}"
