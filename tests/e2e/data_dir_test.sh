#!/usr/bin/env bash
# The data directory belongs to one server and one user: a second server on it refuses to
# start, naming the first one's pid, and the directory (0700), the database with its -wal and
# -shm files, and backups (0600) are private, whatever the umask.
SERVER=$1
CLI=$2
source "$(dirname "$0")/lib.sh"

umask 022  # what most shells have: the server must not depend on the caller's umask
start_server
first_pid=$server_pid
job=$(must "$CLI" submit --steps 20 --depth 4 --width 32 --input-dim 32 --init kaiming)
must "$CLI" watch "$job" >/dev/null

mode() { stat -c %a "$1"; }
[[ $(mode "$data_dir") == 700 ]] || fail "the data directory is $(mode "$data_dir"), not 700"
for file in ablate.db ablate.db-wal ablate.db-shm ablate.lock; do
  [[ -f "$data_dir/$file" ]] || fail "$file is missing"
  [[ $(mode "$data_dir/$file") == 600 ]] || fail "$file is $(mode "$data_dir/$file"), not 600"
done
must "$SERVER" backup --data-dir "$data_dir" "$work/backup.db" >/dev/null 2>&1
[[ $(mode "$work/backup.db") == 600 ]] || fail "the backup is $(mode "$work/backup.db"), not 600"

# A second server on the same directory: refused at once, in one sentence naming the first.
rc=0
timeout 20 "$SERVER" --listen 127.0.0.1:0 --data-dir "$data_dir" >"$work/second.log" 2>&1 || rc=$?
[[ $rc != 0 && $rc != 124 ]] || fail "a second server started on the same data directory"
grep -q "in use by another ablate-server (pid $first_pid)" "$work/second.log" \
  || fail "the second server did not name the first: $(cat "$work/second.log")"
[[ $(grep -c . "$work/second.log") == 1 ]] || fail "expected one line: $(cat "$work/second.log")"
kill -0 "$first_pid" || fail "the first server died"
[[ $(must "$CLI" health) == SERVING ]] || fail "the first server stopped serving"

# kill -9 leaves the lock file behind, but not the lock: the next server starts.
kill -9 "$first_pid"
wait "$first_pid" 2>/dev/null || true
server_pid=""
start_server
[[ $(job_field "$job" .state) == JOB_STATE_SUCCEEDED ]] || fail "the job was lost"
echo "e2e data dir: all checks passed"
