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

# SIGTERM the given pids, SIGKILL those still alive after 10 s, and wait until they are gone.
stop_pids() {
  local pids=("$@") pid alive i
  ((${#pids[@]})) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    alive=()
    for pid in "${pids[@]}"; do [[ -e "/proc/$pid" ]] && alive+=("$pid"); done
    ((${#alive[@]})) || return 0
    ((i == 100)) && kill -KILL "${alive[@]}" 2>/dev/null
    sleep 0.1
  done
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
