#!/usr/bin/env bash
# The ctest fixture of the live Slurm tests: starts (or stops) a one-node cluster in DIR with
# the project's own scripts (deploy/slurm/).
#   cluster.sh start DIR     exit 77 (skip) when Slurm is not installed, unless CI=true
#   cluster.sh stop DIR
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
deploy="$(cd "$(dirname "$0")/../../../deploy/slurm" && pwd)"
case "$1" in
  start)
    PATH="$PATH:/usr/sbin:/sbin"
    missing=()
    for tool in munged munge unmunge slurmctld slurmd sinfo sbatch squeue scontrol scancel; do
      command -v "$tool" >/dev/null || missing+=("$tool")
    done
    if ((${#missing[@]})); then
      echo "The Slurm tests need ${missing[*]}, which are not installed" \
           "(deploy/install-deps.sh installs slurm-wlm, slurm-client and munge)."
      [[ "${CI:-}" == "true" ]] && exit 1
      echo "Skipping them."
      exit 77
    fi
    mkdir -p "$2"
    rm -f "$2/env"  # written again once the cluster answers; the tests look for it
    # More CPUs than the machine has, so that the tests' few small jobs never wait for a slot.
    SLURM_ONE_NODE_CPUS=16 "$deploy/start-one-node.sh" "$2"
    ;;
  stop)
    "$deploy/stop-one-node.sh" "$2"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
