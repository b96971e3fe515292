#!/usr/bin/env bash
# How far one server coordinates runs on Slurm, on this machine:
#   tests/bench/run-worker-bench.sh [BUILD_DIR]     (default: build)
# 1. On a one-node Slurm cluster (deploy/slurm/), with ablate-server --executor slurm: the
#    dispatch latency, from submit to the run's first step recorded, over 10 one-run jobs one at
#    a time; and lab 1 end to end, whose runs' steps/s is "the lab's rate".
# 2. bench_worker_ingest: 64 and 256 fake workers streaming at the lab's rate into one server
#    on loopback: steps/s ingested, server CPU per 1,000 steps/s, step -> watcher latency.
# Prints numbers only.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
server="$build/server/ablate-server"
worker="$build/server/ablate-worker"
cli="$build/client/ablate"
bench="$build/tests/bench/bench_worker_ingest"
for f in "$server" "$worker" "$cli" "$bench"; do
  [[ -x "$f" ]] || { echo "build $(basename "$f") first" >&2; exit 1; }
done
dir="/tmp/ablate-worker-bench-$$"
work="$(mktemp -d)"
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" || true
  "$root/deploy/slurm/stop-one-node.sh" "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir" "$work"
}
trap cleanup EXIT

SLURM_ONE_NODE_CPUS=16 "$root/deploy/slurm/start-one-node.sh" "$dir" >/dev/null
export SLURM_CONF="$dir/slurm.conf"
mkdir -p "$work/slurm"
"$server" --listen 127.0.0.1:0 --data-dir "$work/data" --executor slurm --slurm-worker "$worker" \
  --slurm-poll-seconds 1 --slurm-log-dir "$work/slurm" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/server.log" | cut -d: -f2 || true)
  [[ -n "$port" ]] && break
  sleep 0.1
done
export ABLATE_SERVER="127.0.0.1:$port"
db="$work/data/ablate.db"

latencies=()
for i in $(seq 1 10); do
  t=$(date +%s%N)
  job=$("$cli" submit --name "dispatch$i" --width 64 --depth 4 --input-dim 64 --steps 200 --init kaiming)
  until [[ $(sqlite3 -readonly "$db" "SELECT count(*) FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.job_id = $job" 2>/dev/null || echo 0) -gt 0 ]]; do
    sleep 0.01
  done
  latencies+=("$(( ($(date +%s%N) - t) / 1000000 ))")
  "$cli" watch "$job" >/dev/null
done
sorted=$(printf '%s\n' "${latencies[@]}" | sort -n | tr '\n' ' ')
echo "dispatch latency (submit -> first step recorded, one-node Slurm), ms: $sorted"

(cd "$work" && "$cli" lab --out "$work/lab" >/dev/null)
lab_job=$(sqlite3 -readonly "$db" "SELECT max(id) FROM jobs")
rate=$(sqlite3 -readonly "$db" "SELECT printf('%.0f', max(steps_per_second)) FROM runs WHERE job_id = $lab_job AND state = 'completed'")
echo "lab 1 through Slurm: $(sqlite3 -readonly "$db" "SELECT group_concat(state || ' ' || printf('%.0f', steps_per_second) || ' steps/s', ', ') FROM runs WHERE job_id = $lab_job")"
echo "squeue -t all (the lab's runs as Slurm jobs):"
squeue -t all -o '%.6i %.16j %.10T %.8M %N' | tail -n 4
first=$(squeue -h -t all -o '%i' | sort -n | tail -n 3 | head -n 1)
echo "scontrol show job $first:"
scontrol show job "$first" | grep -E 'JobId|JobState|RunTime|Command|StdOut|NodeList=' | sed 's/^ */  /'
kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=""

for n in 64 256; do
  "$bench" --workers "$n" --rate "$rate" --seconds 20 --data "$work/bench-$n" 2>/dev/null
done
