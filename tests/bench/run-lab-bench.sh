#!/usr/bin/env bash
# `ablate lab` end to end against the work it does at roofline speed:
#
#   1. bench_core --roofline-only: this machine's best single-core sgemm rate (the faster of
#      the core's kernel, Eigen's and OpenBLAS for each shape) at the lab step's
#      GEMM shapes, as ms per training step.
#   2. R times: a fresh ablate-server (temp data dir, free port, default --workers = cores)
#      started from nothing, then `ablate lab --out DIR` (submit, watch, wait for the
#      artifacts, download every file), then SIGTERM.
#
# For each repeat it prints the wall time from the server's start and from the submit to the
# last file downloaded, and where it went, from the downloaded manifest's timestamps: server
# start-up, submit and queueing, training (the runs on the workers, evaluations included), and
# artifacts plus download. The steps the job trained are read from the downloaded losses.json
# (the uniform run stops at its first non-finite loss). Roofline time for them on C cores:
#   max(sum of steps / C, steps of the longest run) × roofline ms per step
# since one run trains on one core. The ratio wall / roofline time is the figure (goal 1.3x).
#
# Usage: tests/bench/run-lab-bench.sh [--repeats R]
# Environment:
#   ABLATE_BUILD_DIR  build directory (default: <repo>/build); configured if it has no cache
# A benchmark, not a test: numbers only, nothing asserted, not run by ctest. Run it on an idle
# machine: the load average is printed at the start and the end.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${ABLATE_BUILD_DIR:-${repo}/build}"
repeats=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --repeats) repeats="$2"; shift 2 ;;
    -h|--help) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-lab-bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if ! [[ "${repeats}" =~ ^[1-9][0-9]*$ ]]; then
  echo "run-lab-bench.sh: --repeats takes a positive integer" >&2
  exit 2
fi

if [[ ! -f "${build}/CMakeCache.txt" ]]; then
  cmake -S "${repo}" -B "${build}" -DCMAKE_BUILD_TYPE=Release -DABLATE_BUILD_TESTS=ON \
    -DABLATE_BUILD_BENCH=ON
fi
cmake --build "${build}" --target ablate-server ablate bench_core -j "$(nproc)"

server_bin="${build}/server/ablate-server"
cli="${build}/client/ablate"
cores="$(nproc)"

work="$(mktemp -d "${TMPDIR:-/tmp}/ablate-lab-bench.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "${server_pid}" ]]; then
    kill -TERM "${server_pid}" 2>/dev/null || true
    wait "${server_pid}" 2>/dev/null || true
  fi
  rm -rf "${work}"
}
trap cleanup EXIT

now() { date +%s.%N; }
# $1 - $2, in seconds with three decimals.
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }

echo "== ablate lab end to end: ${repeats} repeats, ${cores} cores"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# OpenBLAS reads this before bench_core's openblas_set_num_threads(1): no idle worker pool.
roofline_line="$(OPENBLAS_NUM_THREADS=1 "${build}/tests/bench/bench_core" --roofline-only |
  grep 'roofline (flop-weighted')"
echo "sgemm roofline (bench_core --roofline-only):${roofline_line#*:}"
roofline_ms="$(sed -n 's/.* = \([0-9.]*\) ms\/step.*/\1/p' <<<"${roofline_line}")"
if [[ -z "${roofline_ms}" ]]; then
  echo "run-lab-bench.sh: could not read the roofline from bench_core" >&2
  exit 1
fi

printf '\n  %-6s %8s %8s %8s %8s %9s %8s %8s %6s %9s %7s\n' "repeat" "startup" "queue" \
  "training" "(steps)" "artifacts" "lab" "total" "steps" "roofline" "ratio"
for r in $(seq "${repeats}"); do
  data="${work}/data-${r}" out="${work}/out-${r}" log="${work}/server-${r}.log"
  : >"${log}"
  start="$(now)"
  "${server_bin}" --data-dir "${data}" --listen 127.0.0.1:0 --http 127.0.0.1:0 >"${log}" 2>&1 &
  server_pid="$!"
  address=""
  while [[ -z "${address}" ]]; do
    if ! kill -0 "${server_pid}" 2>/dev/null; then
      echo "ablate-server did not start:" >&2
      cat "${log}" >&2
      exit 1
    fi
    address="$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\).*/\1/p' "${log}" | head -n1)"
    [[ -n "${address}" ]] || sleep 0.01
  done
  ready="$(now)"
  if ! "${cli}" --server "${address}" lab --out "${out}" >"${work}/lab-${r}.log" 2>&1; then
    echo "ablate lab failed:" >&2
    cat "${work}/lab-${r}.log" >&2
    exit 1
  fi
  done_at="$(now)"
  kill -TERM "${server_pid}"
  wait "${server_pid}" 2>/dev/null || true
  server_pid=""
  # The job's phases from its manifest (the server's timestamps on the same clock) and the
  # steps per run from losses.json (a diverged run's last step, a forward pass only, is counted
  # as a whole one).
  python3 - "${out}" "${roofline_ms}" "${cores}" "${start}" "${ready}" "${done_at}" "${r}" <<'EOF'
import datetime, json, sys
out, ms, cores = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
start, ready, done, repeat = float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), sys.argv[7]
def t(iso):
    return datetime.datetime.fromisoformat(iso).timestamp()
manifest = json.load(open(out + "/manifest.json"))
steps = [len(run["losses"]) for run in json.load(open(out + "/losses.json"))["runs"]]
job_start = t(manifest["job"]["started_at"])
runs = manifest["runs"]
train_end = max(t(run["started_at"]) + run["timing"]["run_seconds"] for run in runs)
step_seconds = max(run["timing"]["total_step_seconds"] for run in runs)
roofline = max(sum(steps) / cores, max(steps)) * ms / 1e3
lab = done - ready
print("  %-6s %7.3fs %7.3fs %7.3fs %7.3fs %8.3fs %7.3fs %7.3fs %6d %8.3fs %6.2fx" % (
    repeat, ready - start, job_start - ready, train_end - job_start, step_seconds,
    done - train_end, lab, done - start, sum(steps), roofline, lab / roofline))
if repeat == "1":
    for run in runs:
        timing = run["timing"]
        print("           %-8s %5d steps  %6.1f steps/s  steps %.3fs of the run's %.3fs" % (
            run["label"], run["steps_recorded"], timing["steps_per_second"],
            timing["total_step_seconds"], timing["run_seconds"]))
EOF
done
cat <<EOF

  startup    ablate-server from exec to "listening" (fresh data dir)
  queue      \`ablate lab\` start to the job's start (submit and queueing)
  training   the job's start to the end of its last run (${cores} workers, one run each)
  (steps)    the longest run's step time alone; the rest of its run is evaluation and probes
  artifacts  the end of training to the last file downloaded: plots, manifest and report
             (built before the job is marked finished), the CLI's download
  lab        \`ablate lab\` from submit to the last file downloaded; total adds startup
  ratio      lab / roofline; roofline = the job's steps at this machine's sgemm rate on
             ${cores} cores (${roofline_ms} ms per step per core, one run per core)
EOF
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
