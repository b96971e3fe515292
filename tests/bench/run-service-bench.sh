#!/usr/bin/env bash
# The service's overhead and step latency:
#
#   in-process  ablate-lab-local: lab 1's three runs in one process, one thread each
#   service     ablate-server (fresh temp data dir, --workers 3, so it too trains the three runs
#               at once) driven by the real CLI:
#                 `ablate submit --watch`  submit lab 1's default job and watch it to its end
#                 `ablate lab --out DIR`   the same, then wait for the artifacts and download them
#               and the same against a server with the default --workers (= cores)
#
# R repeats of each, interleaved (in-process, service, service, ...) so that a change of load
# on the machine hits every side alike. Prints each wall time and CPU time (user + sys; for the
# service, the CLI's plus what ablate-server used meanwhile), the medians and
# overhead = (service - in-process) / in-process, then runs bench_service (the same stack in
# one process, N watchers) for the latency from a step's loss to the watching clients. On a
# machine with other load the CPU overhead is the steadier figure: it is the work the service
# adds, which an idle machine with fewer cores than runs pays for in wall time.
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
    -h|--help) sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
# fresh data dir; sets server_pid and server_address. Not in a subshell: cleanup needs the pid.
start_server() {
  local workers="$1" log="${work}/server-$1.log"
  : >"${log}"  # exists before the server (started in the background) opens it
  "${server_bin}" --data-dir "$(mktemp -d "${work}/data.XXXXXX")" --listen 127.0.0.1:0 \
    --workers "${workers}" >"${log}" 2>&1 &
  server_pid="$!"
  server_pids+=("${server_pid}")
  server_address=""
  for _ in $(seq 100); do
    server_address="$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\).*/\1/p' "${log}" | head -n1)"
    [[ -n "${server_address}" ]] && return 0
    sleep 0.1
  done
  echo "ablate-server --workers ${workers} did not start:" >&2
  cat "${log}" >&2
  exit 1
}

# Runs a command and prints "wall user sys" (seconds; user and sys of the command and its
# children); its output goes to ${work}/last.log.
time_it() {
  local TIMEFORMAT='%3R %3U %3S' status=0
  { time "$@" >"${work}/last.log" 2>&1 || status=$?; } 2>"${work}/time.txt"
  if [[ "${status}" != 0 ]]; then
    echo "failed (exit ${status}): $*" >&2
    cat "${work}/last.log" >&2
    exit 1
  fi
  tail -n1 "${work}/time.txt"
}

# CPU seconds (user + sys) a process has used so far.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f\n", ($14 + $15) / hz }' "/proc/$1/stat"; }

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END {
  if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "== service overhead: lab 1's default job, ${repeats} repeats, ${cores} cores"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A address pid
start_server 3
address[3]="${server_address}"; pid[3]="${server_pid}"
worker_counts=(3)
if [[ "${cores}" != 3 ]]; then
  start_server "${cores}"
  address[${cores}]="${server_address}"; pid[${cores}]="${server_pid}"
  worker_counts+=("${cores}")
fi
sides=("in-process")
for w in "${worker_counts[@]}"; do sides+=("submit-w${w}" "lab-w${w}"); done
echo "servers: $(for w in "${worker_counts[@]}"; do printf -- '--workers %s on %s  ' "${w}" "${address[${w}]}"; done)"
echo "cpu = user + sys seconds of the command (and, for the service, of ablate-server meanwhile)"

declare -A walls cpus
for ((r = 1; r <= repeats; ++r)); do
  for side in "${sides[@]}"; do
    server_cpu=0
    case "${side}" in
      in-process)
        read -r wall user sys < <(time_it "${lab_local}") ;;
      submit-w* | lab-w*)
        w="${side#*-w}"
        before="$(cpu_of "${pid[${w}]}")"
        if [[ "${side}" == submit-* ]]; then
          read -r wall user sys < <(time_it "${cli}" --server "${address[${w}]}" submit --watch)
        else
          read -r wall user sys < <(time_it "${cli}" --server "${address[${w}]}" lab \
            --out "$(mktemp -d "${work}/out.XXXXXX")")
        fi
        server_cpu="$(awk -v a="${before}" -v b="$(cpu_of "${pid[${w}]}")" 'BEGIN { print b - a }')" ;;
    esac
    [[ -n "${wall:-}" ]] || exit 1  # time_it failed and said why
    cpu="$(awk -v u="${user}" -v s="${sys}" -v v="${server_cpu}" 'BEGIN { printf "%.3f", u + s + v }')"
    walls["${side}"]+="${wall} "
    cpus["${side}"]+="${cpu} "
    printf "  repeat %d  %-10s wall %7.3f s  cpu %7.3f s (client %.3f, server %.3f)  load %s\n" \
      "${r}" "${side}" "${wall}" "${cpu}" "$(awk -v u="${user}" -v s="${sys}" 'BEGIN { print u + s }')" \
      "${server_cpu}" "$(cut -d' ' -f1 /proc/loadavg)"
    unset wall
  done
done

describe() {
  case "$1" in
    in-process) echo "ablate-lab-local (in-process)" ;;
    submit-w*) echo "ablate submit --watch, --workers ${1#submit-w}" ;;
    lab-w*) echo "ablate lab --out, --workers ${1#lab-w}" ;;
  esac
}
base_wall="$(median <<<"${walls[in-process]}")"
base_cpu="$(median <<<"${cpus[in-process]}")"
echo
printf "%-36s %9s %10s %9s %10s\n" "median of ${repeats}" "wall (s)" "overhead" "cpu (s)" "overhead"
for side in "${sides[@]}"; do
  m="$(median <<<"${walls[${side}]}")"
  c="$(median <<<"${cpus[${side}]}")"
  awk -v m="${m}" -v b="${base_wall}" -v c="${c}" -v bc="${base_cpu}" -v name="$(describe "${side}")" \
    'BEGIN { printf "%-36s %9.3f %+9.1f%% %9.3f %+9.1f%%\n", name, m, 100 * (m - b) / b, c, 100 * (c - bc) / bc }'
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# Stop the servers before the latency benchmark: idle as they are, they are still processes.
for p in "${server_pids[@]}"; do
  kill -TERM "${p}" 2>/dev/null || true
  wait "${p}" 2>/dev/null || true
done
server_pids=()

if [[ "${latency}" == 1 ]]; then
  for w in "${worker_counts[@]}"; do
    echo
    echo "== step latency: bench_service --watchers ${watchers} --workers ${w}"
    "${bench}" --watchers "${watchers}" --workers "${w}"
  done
fi
