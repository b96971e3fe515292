#!/usr/bin/env bash
# Starts a one-node Slurm cluster in DIR, for tests and for trying Ablate on one machine:
# munged, slurmctld and slurmd, all as the invoking user (root or not), without systemd.
#
#   deploy/slurm/start-one-node.sh DIR      start the cluster in DIR (or find it running)
#   deploy/slurm/stop-one-node.sh DIR       stop it
#
# Afterwards `export SLURM_CONF=DIR/slurm.conf` (also written to DIR/env) points sbatch, squeue,
# scontrol, scancel and sinfo at it. DIR holds everything: the munge key and socket, slurm.conf,
# the controller's state, slurmd's spool, the logs, the pid files, and DIR/jobcomp.log (one line
# per finished job). The node is "localhost", in partition "debug" (the default).
#
# It returns once slurmd has registered and the node answers (about 0.3-1.5 s). slurmctld's
# first scheduling pass comes about 3 s after it starts: a job submitted before waits for it.
#
# Starting again in the same DIR keeps the controller's state: job ids go on from the last one,
# so ids recorded elsewhere never name a different job. A fresh DIR is a fresh cluster.
#
# Two clusters can run side by side (e.g. two test runs at once): each picks free TCP ports for
# slurmctld and slurmd, and tries other ports if one was taken meanwhile.
#
# Environment:
#   SLURM_ONE_NODE_WAIT  seconds to wait for the node to answer (default 30, 1..600)
#   SLURM_ONE_NODE_CPUS  CPUs the node offers (default: this machine's cores, 1..1024); more
#                        than the machine has lets tests run many small jobs at once
#
# Exit codes: 0 running; 1 failed to start (the reason on stderr, with the logs' last lines);
# 2 bad usage; 3 a program it needs is not installed (deploy/install-deps.sh installs them).
set -euo pipefail

die() { echo "start-one-node: $*" >&2; exit 1; }
usage() { echo "start-one-node: $*" >&2; exit 2; }
[[ $# -eq 1 ]] || usage "usage: $0 DIR"

wait_s="${SLURM_ONE_NODE_WAIT:-30}"
[[ "$wait_s" =~ ^[0-9]{1,3}$ ]] && ((wait_s >= 1 && wait_s <= 600)) ||
  usage "SLURM_ONE_NODE_WAIT must be a whole number of seconds in 1..600, not '$wait_s'."
cpus="${SLURM_ONE_NODE_CPUS:-$(nproc)}"
[[ "$cpus" =~ ^[0-9]{1,4}$ ]] && ((cpus >= 1 && cpus <= 1024)) ||
  usage "SLURM_ONE_NODE_CPUS must be a whole number in 1..1024, not '$cpus'."

PATH="$PATH:/usr/sbin:/sbin"  # the daemons; an ordinary user's PATH may lack them
missing=()
for tool in munged munge unmunge slurmctld slurmd sinfo scontrol squeue scancel; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "start-one-node: not installed: ${missing[*]} (deploy/install-deps.sh installs" \
       "slurm-wlm, slurm-client and munge)." >&2
  exit 3
fi

dir="$(realpath -m "$1")"
# munged's and slurmd's Unix sockets live in DIR, and a socket's path holds at most 107 bytes.
((${#dir} <= 64)) ||
  usage "the cluster directory's absolute path must be at most 64 bytes long, not ${#dir}: $dir"
mkdir -p "$dir"
script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
source "$script_dir/one-node-lib.sh"
lock_dir
export SLURM_CONF="$dir/slurm.conf"

# The node's state as sinfo prints it: "idle", "mixed" or "allocated" once it answers;
# "idle*" (a trailing *) while the controller has not heard from slurmd.
node_state() { timeout 10 sinfo -h -o %T 2>/dev/null | head -n1 || true; }
answering() { [[ "$1" == idle || "$1" == mixed || "$1" == allocated ]]; }
# Epoch second at which the running slurmd registered with the controller (0 if unknown). After
# a restart the controller reports the node's saved state at once, before slurmd registers.
slurmd_start() {
  local t
  t="$(timeout 10 scontrol show node localhost -o 2>/dev/null | tr ' ' '\n' |
       sed -n 's/^SlurmdStartTime=//p')" || true
  date -d "$t" +%s 2>/dev/null || echo 0
}

if [[ -n "$(live_pid munged munged)" && -n "$(live_pid slurmctld slurmctld)" &&
      -n "$(live_pid slurmd slurmd)" ]] && answering "$(node_state)"; then
  echo "start-one-node: already running in $dir (export SLURM_CONF=$SLURM_CONF)"
  echo "export SLURM_CONF=$SLURM_CONF" >"$dir/env"  # as after a start: a caller may wait for it
  exit 0
fi
# Partly running (a daemon died, or a start was interrupted): stop the rest, start afresh.
"$script_dir/stop-one-node.sh" "$dir" >/dev/null

start_ns=$(date +%s%N)
mkdir -p "$dir"/{munge,state,spool,log}
# munged refuses a socket directory that others cannot traverse ("Socket is inaccessible").
chmod 755 "$dir" "$dir/munge"
if [[ ! -s "$dir/munge/munge.key" ]]; then
  (umask 077 && head -c 1024 /dev/urandom >"$dir/munge/munge.key")
fi
chmod 400 "$dir/munge/munge.key"
sock="$dir/munge/munge.sock"

tail_log() { [[ -f "$1" ]] && { echo "--- last lines of $1:" >&2; tail -n 15 "$1" >&2; }; true; }

# --force: munged otherwise refuses a key or socket under directories that other users can
# write to (such as /tmp), which is where a test cluster lives.
munged --force -S "$sock" --key-file="$dir/munge/munge.key" --pid-file="$dir/munged.pid" \
  --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" 9>&- ||
  { tail_log "$dir/log/munged.log"; die "munged did not start."; }
# Fail fast: with a broken munge every Slurm command retries for minutes before it gives up.
if ! timeout 10 munge -S "$sock" -n </dev/null | timeout 10 unmunge -S "$sock" >/dev/null; then
  tail_log "$dir/log/munged.log"
  die "munge does not work: 'munge -n | unmunge' failed on $sock."
fi

# TCP ports listening right now, from the kernel's tables (no tool needed).
listening_ports() {
  local hex
  { cat /proc/net/tcp /proc/net/tcp6 2>/dev/null || true; } |
    awk 'NR > 1 && $4 == "0A" { n = split($2, a, ":"); print a[n] }' |
    while read -r hex; do echo $((16#$hex)); done | sort -u
}

write_conf() {  # $1 slurmctld port, $2 slurmd port
  local over=""
  (( cpus > $(nproc) )) && over="SlurmdParameters=config_overrides"
  cat >"$SLURM_CONF" <<EOF
# One-node Slurm written by deploy/slurm/start-one-node.sh; everything lives in $dir.
ClusterName=ablate
SlurmctldHost=localhost
SlurmctldPort=$1
SlurmdPort=$2
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# The default batch_sched_delay of 3 s would dominate the time from sbatch to a running job.
SchedulerParameters=batch_sched_delay=0
AccountingStorageType=accounting_storage/none
# One permanent line per finished job: its final state once scontrol has forgotten it.
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.log
MinJobAge=3600
# Seconds between a cancel's SIGTERM and its SIGKILL (default 30).
KillWait=5
MailProg=/bin/true
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
$over
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

state=""
for attempt in 1 2 3 4 5; do
  used="$(listening_ports)"
  while :; do
    port=$((20000 + RANDOM % 12000))
    grep -qx "$port" <<<"$used" || grep -qx "$((port + 1))" <<<"$used" || break
  done
  write_conf "$port" "$((port + 1))"
  rm -f "$dir/slurmctld.pid" "$dir/slurmd.pid"
  # -i: start even if some saved state cannot be read (e.g. after a crash mid-write).
  slurmctld -i 9>&- || { tail_log "$dir/log/slurmctld.log"; die "slurmctld did not start."; }
  slurmd_launched=$(date +%s)
  # Without -N, slurmd dies unless this machine's hostname resolves to the NodeName.
  slurmd -N localhost 9>&- || { tail_log "$dir/log/slurmd.log"; die "slurmd did not start."; }

  deadline=$((SECONDS + wait_s))
  while ((SECONDS < deadline)); do
    state="$(node_state)"
    if answering "$state" && (($(slurmd_start) >= slurmd_launched)); then
      echo "export SLURM_CONF=$SLURM_CONF" >"$dir/env"
      echo "start-one-node: running in $(( ($(date +%s%N) - start_ns) / 1000000 )) ms in $dir" \
           "(export SLURM_CONF=$SLURM_CONF)"
      exit 0
    fi
    # Both daemons write their pid files after forking: give them a moment before judging.
    if [[ -z "$(live_pid slurmctld slurmctld)" || -z "$(live_pid slurmd slurmd)" ]]; then
      sleep 0.3
      [[ -n "$(live_pid slurmctld slurmctld)" && -n "$(live_pid slurmd slurmd)" ]] || break
    fi
    sleep 0.1
  done
  # A port taken between the check and the bind: try other ports.
  if grep -qsi "bind.*address already in use\|address already in use" \
       "$dir/log/slurmctld.log" "$dir/log/slurmd.log"; then
    "$script_dir/stop-one-node.sh" --keep-munge "$dir" >/dev/null
    mv -f "$dir/log/slurmctld.log" "$dir/log/slurmctld.log.port-taken"
    mv -f "$dir/log/slurmd.log" "$dir/log/slurmd.log.port-taken"
    continue
  fi
  tail_log "$dir/log/slurmctld.log"
  tail_log "$dir/log/slurmd.log"
  "$script_dir/stop-one-node.sh" "$dir" >/dev/null
  if ((SECONDS >= deadline)); then
    die "the node did not answer within $wait_s s (sinfo says '${state:-nothing}');" \
        "the logs are in $dir/log."
  fi
  die "slurmctld or slurmd exited during start (sinfo says '${state:-nothing}');" \
      "the logs are in $dir/log."
done
"$script_dir/stop-one-node.sh" "$dir" >/dev/null
die "no free ports for slurmctld and slurmd after 5 tries."
