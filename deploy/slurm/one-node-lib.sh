# Shared by start-one-node.sh and stop-one-node.sh (sourced, not run). Expects $dir.

# The daemons live in /usr/sbin, which an ordinary user's PATH may lack.
PATH="$PATH:/usr/sbin:/sbin"

# Pid of a daemon from DIR/NAME.pid if that process is alive and is that program, else empty:
# a stale pid file must not make us signal an unrelated process that reused the pid.
live_pid() {
  local file="$dir/$1.pid" prog="$2" pid argv0
  [[ -s "$file" ]] || return 0
  pid="$(tr -dc 0-9 <"$file")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 0
  # argv[0] from cmdline, not comm (cut to 15 bytes); the daemons keep argv[0] as started.
  argv0="$(tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | head -n1)" || return 0
  [[ "${argv0##*/}" == "$prog" ]] && echo "$pid"
  return 0
}

# Sends SIGTERM (unless GRACE_S is 0) to the given pids, SIGKILL to those still alive after
# GRACE_S seconds, and waits until they are gone (at most 5 s more).
#   stop_pids GRACE_S PID...
stop_pids() {
  local grace=$(($1 * 10)) pid alive i
  shift
  local pids=("$@")
  ((${#pids[@]})) || return 0
  ((grace > 0)) && kill -TERM "${pids[@]}" 2>/dev/null
  for ((i = 0; i <= grace + 50; i++)); do
    alive=()
    for pid in "${pids[@]}"; do [[ -e "/proc/$pid" ]] && alive+=("$pid"); done
    ((${#alive[@]})) || return 0
    ((i == grace)) && kill -KILL "${alive[@]}" 2>/dev/null
    sleep 0.1
  done
  return 0
}

# The slurmstepd processes of this cluster's jobs. They outlive slurmd (a job survives a slurmd
# restart); each holds this cluster's slurmd log open, which tells them from another cluster's.
cluster_steps() {
  local p
  for p in /proc/[0-9]*; do
    [[ "$(tr -d '\0' 2>/dev/null <"$p/cmdline")" == slurmstepd:* ]] || continue
    [[ "$(ls -l "$p/fd" 2>/dev/null)" == *"-> $dir/log/"* ]] && echo "${p#/proc/}"
  done
  return 0
}

# One start or stop at a time per DIR. The lock is held on descriptor 9, which every daemon must
# be started without (9>&-), or it would hold the lock for as long as it runs. A script that
# runs another under its lock (start runs stop) passes SLURM_ONE_NODE_LOCKED=1 down.
lock_dir() {
  [[ "${SLURM_ONE_NODE_LOCKED:-}" == 1 ]] && return 0
  exec 9>>"$dir/.lock"
  if ! flock -w 60 9; then
    echo "$(basename "$0"): another start or stop in $dir has held its lock for 60 s." >&2
    exit 1
  fi
  export SLURM_ONE_NODE_LOCKED=1
}
