#!/usr/bin/env bash
# The lecture-hall benchmark: 1,000 browsers (SSE) and 100 CLI watchers (gRPC) on one lab 1 job
# while 20 clients submit small jobs, after the same without watchers (tests/load/lab_watch.cc
# says what it measures). A benchmark, not a test: it prints numbers; its exit status says only
# whether every watcher received every step exactly once. ctest runs a small lossless check
# (load.lab_watch_short).
#
# Usage: tests/load/run-lab-watch.sh [ablate_lab_watch flags...]
#   default: --sse 1000 --grpc 100 --submitters 20 --workers 3 --compare --repeats 3
# Environment:
#   ABLATE_BUILD_DIR  build directory (default: <repo>/build); configured if it has no cache
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${ABLATE_BUILD_DIR:-${repo}/build}"
if [[ ! -f "${build}/CMakeCache.txt" ]]; then
  cmake -S "${repo}" -B "${build}"
fi
cmake --build "${build}" --target ablate-server ablate_lab_watch -j 2

echo "uptime: $(uptime)"
status=0
"${build}/tests/load/ablate_lab_watch" --server "${build}/server/ablate-server" \
  --sse 1000 --grpc 100 --submitters 20 --workers 3 --compare --repeats 3 "$@" || status=$?
echo "uptime: $(uptime)"
exit "${status}"
