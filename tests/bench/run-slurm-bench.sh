#!/usr/bin/env bash
# Times the one-node Slurm cluster and the Slurm driver on this machine:
#   tests/bench/run-slurm-bench.sh [BUILD_DIR]     (default: build)
# Starts and stops a fresh cluster 5 times (deploy/slurm/), then, on one more, runs
# bench_slurm: the sbatch call, sbatch -> program running over 20 submissions one at a time,
# one squeue poll of 20 and of 200 ids, and scontrol show job. Prints numbers only.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
bench="$build/tests/bench/bench_slurm"
probe="$build/tests/server/slurm/slurm_probe"
[[ -x "$bench" && -x "$probe" ]] ||
  { echo "build bench_slurm and slurm_probe first (cmake --build build --target bench_slurm)" >&2
    exit 1; }
dir="/tmp/ablate-slurm-bench-$$"
trap '"$root/deploy/slurm/stop-one-node.sh" "$dir" >/dev/null; rm -rf "$dir"' EXIT

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
starts=(); stops=()
for i in 1 2 3 4 5; do
  rm -rf "$dir"
  t=$(date +%s%N); "$root/deploy/slurm/start-one-node.sh" "$dir" >/dev/null; starts+=("$(ms "$t")")
  t=$(date +%s%N); "$root/deploy/slurm/stop-one-node.sh" "$dir" >/dev/null; stops+=("$(ms "$t")")
done
echo "cluster start (fresh dir, to node idle), ms: ${starts[*]}"
echo "cluster stop (no jobs), ms:                  ${stops[*]}"

rm -rf "$dir"
# As many CPUs as jobs may run at once, so that the 200 polled jobs do not queue for long.
SLURM_ONE_NODE_CPUS=64 "$root/deploy/slurm/start-one-node.sh" "$dir" >/dev/null
"$bench" --cluster "$dir" --probe "$probe"
t=$(date +%s%N); "$root/deploy/slurm/stop-one-node.sh" "$dir" >/dev/null
echo "cluster stop (after the benchmark), ms: $(ms "$t")"
