#!/usr/bin/env bash
# The real server against storage faults and operations on its database:
#  - full: with --max-store-size the database fills up mid-job; the job ends FAILED saying so,
#    new submits are refused as RESOURCE_EXHAUSTED, reads and /metrics go on, the server stops
#    cleanly and the file passes PRAGMA integrity_check; with space back, jobs run again.
#  - backup: `ablate-server backup` while a job trains gives a checked copy; a server on the
#    restored copy serves the finished job and completes the one that was running.
#  - read-only: a data directory the server's user cannot write is served read-only: reads
#    work, submit and cancel are refused naming the directory, and no file there changes; both
#    for a cleanly closed database and for one a SIGKILL left with its -wal and -shm files.
SERVER=$1
CLI=$2
source "$(dirname "$0")/lib.sh"

sql() { sqlite3 -readonly -cmd ".timeout 5000" "$1" "$2"; }
# Starts the server afresh (a new log, so that its port is read from its own lines).
restart() {
  [[ -z "$server_pid" ]] || stop_server
  [[ -f "$work/server.log" ]] && cat "$work/server.log" >>"$work/all.log" && rm "$work/server.log"
  port=0
  start_server
}
http_port() { grep -o 'http://127.0.0.1:[0-9]*' "$work/server.log" | tail -n 1 | cut -d: -f3; }

tiny=(--width 8 --depth 2 --input-dim 8 --label-dims 4 --train-size 64 --val-size 16 --batch 8)

# --- full ---------------------------------------------------------------------------------------
server_args=(--max-store-size 2 --http 127.0.0.1:0 --web-dir "")
restart
small=$(must "$CLI" submit --name before-full "${tiny[@]}" --steps 100 --init kaiming)
must "$CLI" watch "$small" >/dev/null
big=$(must "$CLI" submit --name fills-the-disk "${tiny[@]}" --steps 100000 --eval-every 100000 \
  --init kaiming)
for _ in $(seq 1 300); do
  [[ $(job_field "$big" .state) == JOB_STATE_FAILED ]] && break
  sleep 0.1
done
[[ $(job_field "$big" .state) == JOB_STATE_FAILED ]] || fail "the job did not fail on a full database"
[[ $(job_field "$big" .error) == *"the database is full"* ]] \
  || fail "the job's error does not say the database is full: $(job_field "$big" .error)"
must_fail 1 "the data directory is full" "$CLI" submit "${tiny[@]}" --steps 10 --init kaiming
# Reads go on: the list, the jobs, trajectories, files, a watch of a finished job.
must "$CLI" list >/dev/null
recorded=$(job_field "$big" '.runs[0].steps_done')
((recorded > 1000 && recorded < 100000)) || fail "the full job recorded $recorded steps"
run=$(job_field "$big" '.runs[0].id')
[[ $(must "$CLI" trajectory "$run" --csv | tail -n +2 | awk -F, '$2 != ""' | wc -l) == "$recorded" ]] \
  || fail "the trajectory does not hold the $recorded recorded steps"
must "$CLI" download "$small" --out "$work/small" >/dev/null
"$CLI" watch "$big" >/dev/null 2>&1 || [[ $? == 3 ]] || fail "cannot watch the failed job"
metrics=$(curl -sf "http://127.0.0.1:$(http_port)/metrics") || fail "no /metrics"
grep -qx 'ablate_store_full 1' <<<"$metrics" || fail "/metrics does not report the full store"
grep -qx 'ablate_jobs{state="failed"} 1' <<<"$metrics" || fail "/metrics: $metrics"
stop_server
[[ $(sql "$data_dir/ablate.db" "PRAGMA integrity_check") == ok ]] || fail "integrity_check after full"
# Space is back (no cap): jobs run again.
server_args=()
restart
must "$CLI" watch "$(must "$CLI" submit "${tiny[@]}" --steps 50 --init kaiming)" >/dev/null
echo "full: the job failed after $recorded steps; submits refused; reads served"

# --- backup while a job trains, and a restore ----------------------------------------------------
# About 3 s of training here: the backup (a few hundred ms) lands early in it.
backup_steps=6000
running=$(must "$CLI" submit --name training-during-backup --width 128 --depth 6 --input-dim 128 \
  --steps $backup_steps --init kaiming)
for _ in $(seq 1 200); do
  (($(sql "$data_dir/ablate.db" "SELECT count(*) FROM steps s JOIN runs r ON r.id = s.run_id
        WHERE r.job_id = $running") >= 200)) && break
  sleep 0.05
done
must "$SERVER" backup --data-dir "$data_dir" "$work/backup.db" 2>>"$work/backup.log"
[[ $(sqlite3 "$work/backup.db" "PRAGMA integrity_check") == ok ]] || fail "the backup is damaged"
# The copy holds the job mid-run, which the restored server must complete below; a copy of the
# job's end would leave nothing to complete.
in_copy=$(sql "$work/backup.db" "SELECT j.state || ' ' || r.steps_done FROM jobs j
                                  JOIN runs r ON r.job_id = j.id WHERE j.id = $running")
read -r copy_state copy_steps <<<"$in_copy"
[[ $copy_state == running ]] && ((copy_steps > 0 && copy_steps < backup_steps)) ||
  fail "the backup was not taken mid-job (the copy has job $running $in_copy of $backup_steps steps): lengthen the job"
echo "backup: taken with $copy_steps of $backup_steps steps in the copy"
must "$CLI" watch "$running" >/dev/null
mkdir "$work/restored"
cp "$work/backup.db" "$work/restored/ablate.db"
data_dir="$work/restored"
restart
[[ $(job_field "$small" .state) == JOB_STATE_SUCCEEDED ]] || fail "the restored copy lost job $small"
must "$CLI" download "$small" --out "$work/small-restored" >/dev/null
diff -r "$work/small" "$work/small-restored" || fail "the restored job's files differ"
must "$CLI" watch "$running" >/dev/null  # it was running in the copy: it resumes and completes
[[ $(job_field "$running" .state) == JOB_STATE_SUCCEEDED ]] || fail "the restored job did not finish"
stop_server
echo "backup: taken mid-job, restored, served"

# --- read-only data directory ---------------------------------------------------------------------
# A second directory, left by a SIGKILL mid-job: its last commits are only in the -wal file,
# which a read-only server must read without writing anything beside it.
data_dir="$work/crashed"
restart
crashed=$(must "$CLI" submit --name killed --width 128 --depth 6 --input-dim 128 --steps 5000 \
  --init kaiming)
for _ in $(seq 1 200); do
  (($(sql "$data_dir/ablate.db" "SELECT count(*) FROM steps") >= 300)) && break
  sleep 0.05
done
kill -KILL "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""
[[ -s "$data_dir/ablate.db-wal" ]] || fail "the killed server left no -wal file"
in_wal=$(sql "$data_dir/ablate.db" "SELECT count(*) FROM steps")
# Killed mid-job: the read-only server below must serve a job left running.
[[ $(sql "$data_dir/ablate.db" "SELECT state FROM jobs WHERE id = $crashed") == running ]] &&
  ((in_wal < 5000)) ||
  fail "job $crashed had ended ($in_wal of 5000 steps) before the kill: lengthen it"
echo "read-only: killed with $in_wal of 5000 steps stored"

if [[ $(id -u) == 0 ]]; then
  # Permissions do not stop root: run the server as nobody on root's files. The binary is
  # copied where nobody may run it (the build may sit in a directory only root can enter).
  chmod 0755 "$work"
  install -m 0755 "$SERVER" "$work/ablate-server"
  SERVER="$work/ablate-server"
  server_prefix=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$SERVER" \
    || fail "nobody cannot run $SERVER"
fi
# Starts a server on directory $1, which it may not write to, and checks what every read-only
# server must do; the caller reads on, then calls end_read_only.
start_read_only() {
  data_dir=$1
  # Readable by the server's user (the directory is created 0700), writable by nobody but root,
  # who runs the server as another user here.
  chmod 0555 "$data_dir"
  chmod 0644 "$data_dir"/ablate.db*
  (cd "$data_dir" && ls -l --time-style=+%s.%N && sha256sum ablate.db*) >"$work/ro.before"
  restart
  grep -q "is read-only: serving reads only" "$work/server.log" \
    || fail "the server did not say that $data_dir is read-only"
  must "$CLI" list >/dev/null
  must_fail 1 "$data_dir is read-only" "$CLI" submit "${tiny[@]}" --steps 10 --init kaiming
}
# Checks that cancelling job $1 (when given: one that has not ended) is refused and, after the
# server stopped, that nothing in the directory changed and the database is sound.
end_read_only() {
  [[ -z ${1:-} ]] || must_fail 1 "$data_dir is read-only" "$CLI" cancel "$1"
  stop_server
  (cd "$data_dir" && ls -l --time-style=+%s.%N && sha256sum ablate.db*) | cmp -s - "$work/ro.before" \
    || fail "the read-only directory $data_dir changed"
  [[ $(sql "$data_dir/ablate.db" "PRAGMA integrity_check") == ok ]] || fail "integrity_check"
  [[ $(id -u) == 0 ]] || chmod 0755 "$data_dir"
}

start_read_only "$work/restored"  # a clean directory: the database file alone
[[ $(job_field "$small" .state) == JOB_STATE_SUCCEEDED ]] || fail "read-only: cannot read job $small"
must "$CLI" trajectory "$(job_field "$running" '.runs[0].id')" --csv >/dev/null
must "$CLI" download "$small" --out "$work/small-ro" >/dev/null
# A job that has ended is left as it is without a write; cancelling one that has not is refused
# (the killed job below).
must "$CLI" cancel "$small" | grep -q "nothing to cancel" || fail "read-only: cancel of an ended job"
end_read_only

start_read_only "$work/crashed"  # the database file, -wal and -shm of a killed server
[[ $(job_field "$crashed" .state) == JOB_STATE_RUNNING ]] || fail "read-only: the killed job's state"
[[ $(must "$CLI" trajectory "$(job_field "$crashed" '.runs[0].id')" --csv | tail -n +2 | awk -F, '$2 != ""' | wc -l) \
  == "$in_wal" ]] || fail "read-only: the steps in the -wal file are not all served"
end_read_only "$crashed"
echo "read-only: reads served (clean, and after a crash with $in_wal steps in the WAL), changes refused, nothing written"
echo "e2e faults: all checks passed"
