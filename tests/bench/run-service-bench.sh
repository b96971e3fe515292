#!/usr/bin/env bash
# The service's overhead and step latency (issue 3, "Performance"):
#
#   in-process  ablate-lab-local: lab 1's three runs in one process, one thread each
#   service     ablate-server (fresh temp data dir, --workers 3, so it too trains the three runs
#               at once) driven by the real CLI:
#                 `ablate submit --watch`  submit lab 1's default job and watch it to its end
#                 `ablate lab --out DIR`   the same, then wait for the artifacts and download them
#               and the same against a server with the default --workers (= cores)
#
# R repeats of each, interleaved (in-process, service, service, ...) so that a change of load
# on the machine hits every side alike. Prints each wall time, the medians and
# overhead = (service - in-process) / in-process, then runs bench_service (the same stack in
# one process, N watchers) for the latency from a step's loss to the watching clients.
#
# Usage: tests/bench/run-service-bench.sh [--repeats R] [--watchers N] [--no-latency]
# Environment:
#   ABLATE_BUILD_DIR  build directory (default: <repo>/build); configured if it has no cache
# A benchmark, not a test: numbers only, nothing asserted, not run by ctest. Run it on an idle
# machine: the load average is printed before and after, since other load shows up as noise.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${ABLATE_BUILD_DIR:-${repo}/build}"
repeats=3
watchers=10
latency=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --repeats) repeats="$2"; shift 2 ;;
    --watchers) watchers="$2"; shift 2 ;;
    --no-latency) latency=0; shift ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-service-bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if ! [[ "${repeats}" =~ ^[1-9][0-9]*$ && "${watchers}" =~ ^[1-9][0-9]*$ ]]; then
  echo "run-service-bench.sh: --repeats and --watchers take a positive integer" >&2
  exit 2
fi

if [[ ! -f "${build}/CMakeCache.txt" ]]; then
  cmake -S "${repo}" -B "${build}" -DCMAKE_BUILD_TYPE=Release -DABLATE_BUILD_TESTS=ON \
    -DABLATE_BUILD_BENCH=ON
fi
cmake --build "${build}" --target ablate-lab-local ablate-server ablate bench_service \
  -j "$(nproc)"

lab_local="${build}/core/ablate-lab-local"
server_bin="${build}/server/ablate-server"
cli="${build}/client/ablate"
bench="${build}/tests/bench/bench_service"
cores="$(nproc)"

work="$(mktemp -d "${TMPDIR:-/tmp}/ablate-service-bench.XXXXXX")"
server_pids=()
cleanup() {
  for pid in "${server_pids[@]}"; do
    kill -TERM "${pid}" 2>/dev/null || true
    wait "${pid}" 2>/dev/null || true
  done
  rm -rf "${work}"
}
trap cleanup EXIT

# Starts ablate-server with `--workers $1` on a free port (it picks one: --listen :0) and a
# fresh data dir, and prints the address it listens on.
start_server() {
  local workers="$1" log="${work}/server-$1.log"
  "${server_bin}" --data-dir "$(mktemp -d "${work}/data.XXXXXX")" --listen 127.0.0.1:0 \
    --workers "${workers}" >"${log}" 2>&1 &
  server_pids+=("$!")
  local address=""
  for _ in $(seq 100); do
    address="$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\).*/\1/p' "${log}" | head -n1)"
    [[ -n "${address}" ]] && break
    sleep 0.1
  done
  if [[ -z "${address}" ]]; then
    echo "ablate-server --workers ${workers} did not start:" >&2
    cat "${log}" >&2
    exit 1
  fi
  echo "${address}"
}

# Runs a command and prints its wall time in seconds; its output goes to ${work}/last.log.
time_it() {
  local start end
  start="$(date +%s.%N)"
  if ! "$@" >"${work}/last.log" 2>&1; then
    echo "failed: $*" >&2
    cat "${work}/last.log" >&2
    exit 1
  fi
  end="$(date +%s.%N)"
  awk -v s="${start}" -v e="${end}" 'BEGIN { printf "%.3f\n", e - s }'
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END {
  if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "== service overhead: lab 1 (3 runs x 1000 steps), ${repeats} repeats, ${cores} cores"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
addr3="$(start_server 3)"
sides=("in-process" "submit-w3" "lab-w3")
if [[ "${cores}" != 3 ]]; then
  addr_default="$(start_server "${cores}")"
  sides+=("submit-w${cores}" "lab-w${cores}")
fi
echo "servers: --workers 3 on ${addr3}${addr_default:+, --workers ${cores} on ${addr_default}}"

declare -A times
for ((r = 1; r <= repeats; ++r)); do
  for side in "${sides[@]}"; do
    case "${side}" in
      in-process) t="$(time_it "${lab_local}")" ;;
      submit-w*)
        addr="${addr3}"; [[ "${side}" == "submit-w3" ]] || addr="${addr_default}"
        t="$(time_it "${cli}" --server "${addr}" submit --watch)" ;;
      lab-w*)
        addr="${addr3}"; [[ "${side}" == "lab-w3" ]] || addr="${addr_default}"
        t="$(time_it "${cli}" --server "${addr}" lab --out "$(mktemp -d "${work}/out.XXXXXX")")" ;;
    esac
    times["${side}"]+="${t} "
    printf "  repeat %d  %-12s %7.3f s   (load %s)\n" "${r}" "${side}" "${t}" \
      "$(cut -d' ' -f1 /proc/loadavg)"
  done
done

base="$(median <<<"${times[in-process]}")"
echo
printf "%-34s %8s  %s\n" "median wall time" "seconds" "overhead vs in-process"
printf "%-34s %8.3f\n" "ablate-lab-local (in-process)" "${base}"
describe() {
  case "$1" in
    submit-w*) echo "ablate submit --watch, --workers ${1#submit-w}" ;;
    lab-w*) echo "ablate lab --out, --workers ${1#lab-w}" ;;
  esac
}
for side in "${sides[@]:1}"; do
  m="$(median <<<"${times[${side}]}")"
  awk -v m="${m}" -v b="${base}" -v name="$(describe "${side}")" \
    'BEGIN { printf "%-34s %8.3f  %+.1f %%\n", name, m, 100 * (m - b) / b }'
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# Stop the servers before the latency benchmark: idle as they are, they are still processes.
for pid in "${server_pids[@]}"; do
  kill -TERM "${pid}" 2>/dev/null || true
  wait "${pid}" 2>/dev/null || true
done
server_pids=()

if [[ "${latency}" == 1 ]]; then
  echo
  echo "== step latency: bench_service --watchers ${watchers} --workers 3"
  "${bench}" --watchers "${watchers}" --workers 3
  if [[ "${cores}" != 3 ]]; then
    echo
    echo "== step latency: bench_service --watchers ${watchers} --workers ${cores} (the default)"
    "${bench}" --watchers "${watchers}" --workers "${cores}"
  fi
fi
