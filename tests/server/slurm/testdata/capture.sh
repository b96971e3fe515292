#!/usr/bin/env bash
# Regenerates the captured Slurm output in this directory from a live cluster:
#   deploy/slurm/start-one-node.sh /tmp/c && SLURM_CONF=/tmp/c/slurm.conf \
#     tests/server/slurm/testdata/capture.sh /tmp/c && deploy/slurm/stop-one-node.sh /tmp/c
# Takes about 90 s (one job has to reach its 1-minute time limit). The parser tests read these
# files, so a new Slurm release's output can be captured and checked the same way.
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 CLUSTER_DIR" >&2; exit 2; }
cluster="$(cd "$1" && pwd -P)"
out="$(cd "$(dirname "$0")" && pwd -P)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
submit() {  # $1 job name, $2 script body; prints the job id
  printf '#!/bin/sh\n%s\n' "$2" |
    sbatch --parsable --no-requeue --export-file=3 -J "$1" -D "$work" -o /dev/null -e /dev/null \
      "${@:3}" 3</dev/null
}
sbatch --parsable -J parsable -D "$work" -o /dev/null --wrap true >"$out/sbatch_parsable.txt"
done_ok=$(submit completed 'exit 0')
failed=$(submit exit3 'exit 3')
missing=$(submit missing "p=/nonexistent/ablate-worker; [ -e \"\$p\" ] || exit 127; exec \"\$p\"")
signaled=$(submit signaled 'kill -9 $$')
timeout=$(submit timeout 'exec sleep 600' --time=1)
running=$(submit running 'exec sleep 600')
cancelled=$(submit cancelled 'exec sleep 600')
pending=$(submit pending 'exit 0' --hold)
sleep 3
scancel "$cancelled"
sleep 2
ids="$done_ok,$failed,$missing,$signaled,$timeout,$running,$cancelled,$pending"
squeue -h -t all -o '%i|%T' -j "$ids" >"$out/squeue_states.txt"
for j in done_ok failed missing signaled running cancelled pending; do
  scontrol show job -o "${!j}" >"$out/scontrol_$j.txt"
done
squeue -h -t all -o '%i|%T' -j 999999 >/dev/null 2>"$out/squeue_invalid_id.stderr" || true
scontrol show job -o 999999 >/dev/null 2>"$out/scontrol_invalid_id.stderr" || true
submit bad 'exit 0' -p nosuchpartition >/dev/null 2>"$out/sbatch_bad_partition.stderr" || true
echo "waiting for job $timeout to reach its time limit..." >&2
while [[ "$(squeue -h -t all -o %T -j "$timeout")" != TIMEOUT ]]; do sleep 2; done
scontrol show job -o "$timeout" >"$out/scontrol_timeout.txt"
scancel "$running" "$pending"
sleep 2
# The jobcomp lines of exactly these jobs, in the order Slurm wrote them.
grep -E "^JobId=(${ids//,/|}) " "$cluster/jobcomp.log" >"$out/jobcomp.log"
echo "job ids: completed=$done_ok exit3=$failed missing=$missing signaled=$signaled" \
     "timeout=$timeout running=$running cancelled=$cancelled pending=$pending" >"$out/job_ids.txt"
cat "$out/job_ids.txt"
