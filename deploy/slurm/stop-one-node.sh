#!/usr/bin/env bash
# Stops the one-node Slurm cluster that deploy/slurm/start-one-node.sh started in DIR: its jobs,
# then slurmd, slurmctld and munged, each by the pid in its pid file (SIGTERM, then SIGKILL after
# 10 s). Idempotent: a cluster already stopped, partly started or never started is fine.
#
#   deploy/slurm/stop-one-node.sh DIR               stop everything, keep DIR (logs, jobcomp.log)
#   deploy/slurm/stop-one-node.sh --keep-munge DIR  leave munged running (used by the start script)
set -euo pipefail

keep_munge=""
if [[ "${1:-}" == "--keep-munge" ]]; then keep_munge=1; shift; fi
[[ $# -eq 1 ]] || { echo "usage: $0 [--keep-munge] DIR" >&2; exit 2; }
[[ -d "$1" ]] || exit 0
dir="$(cd "$1" && pwd -P)"
export SLURM_CONF="$dir/slurm.conf"
source "$(dirname "${BASH_SOURCE[0]}")/one-node-lib.sh"
lock_dir

ctld="$(live_pid slurmctld slurmctld)"
slurmd="$(live_pid slurmd slurmd)"

# End the jobs first, through Slurm while it runs (so they end CANCELLED and in jobcomp.log, and
# a later start finds none of them still "running"), then whatever is left of their processes.
if [[ -n "$ctld" ]]; then
  jobs=($(timeout 10 squeue -h -o %i 2>/dev/null || true))
  if ((${#jobs[@]})); then
    timeout 10 scancel "${jobs[@]}" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      [[ -z "$(timeout 10 squeue -h -o %i 2>/dev/null)" ]] && break
      sleep 0.1
    done
  fi
fi
steps=($(cluster_steps))
if ((${#steps[@]})); then
  # The job's own processes are slurmstepd's children (proctrack/linuxproc tracks no further).
  children=()
  for s in "${steps[@]}"; do
    children+=($(cat "/proc/$s/task/"*/children 2>/dev/null || true))
  done
  stop_pids 10 "${children[@]}"
  # A slurmstepd exits once its job has, after telling slurmd; without slurmd it would retry.
  stop_pids 2 "${steps[@]}"
fi

# The three daemons at once: each takes 1-2 s to exit on SIGTERM, and none needs another to.
pids=()
[[ -n "$slurmd" ]] && pids+=("$slurmd")
[[ -n "$ctld" ]] && pids+=("$ctld")
if [[ -z "$keep_munge" ]]; then
  munged="$(live_pid munged munged)"
  [[ -n "$munged" ]] && pids+=("$munged")
fi
stop_pids 10 "${pids[@]}"
rm -f "$dir/env"  # what start-one-node.sh wrote once the cluster answered
echo "stop-one-node: stopped in $dir"
