#!/usr/bin/env bash
# A server stopped in the middle of a job: on restart the job completes, a watcher that was
# streaming resumes from its cursor, and no step is lost or recorded twice.
SERVER=$1
CLI=$2
source "$(dirname "$0")/lib.sh"

start_server
steps=2500
job=$(must "$CLI" submit --name restart --steps $steps --init kaiming --init xavier)
queued=$(must "$CLI" submit --name queued-behind --steps 50 --init kaiming)

"$CLI" watch "$job" >"$work/watch.out" 2>"$work/watch.err" &
watcher=$!
sleep 2
[[ $(must "$CLI" health) == SERVING ]] || fail "the server is not SERVING"
# SIGTERM drains: the runs stop within a step, the writer commits what they recorded, and the
# server exits 0 within the bound a service manager allows it (TimeoutStopSec=15 in
# deploy/ablate-server.service).
before_stop=$(date +%s%N)
stop_server
stop_ms=$((($(date +%s%N) - before_stop) / 1000000))
((stop_ms < 15000)) || fail "the server took $stop_ms ms to stop on SIGTERM"
echo "SIGTERM to exit: $stop_ms ms"
grep -q "resume at the next start" "$work/server.log" || fail "the server did not log a drain"
"$CLI" health >/dev/null 2>&1 && fail "ablate health succeeded with the server stopped"
sleep 1
start_server  # same port: the watcher reconnects to it

wait "$watcher" || fail "the watcher did not survive the restart: $(cat "$work/watch.err")"
[[ $(job_field "$job" .state) == JOB_STATE_SUCCEEDED ]] || fail "the interrupted job did not finish"
must "$CLI" watch "$queued" >/dev/null
[[ $(job_field "$queued" .state) == JOB_STATE_SUCCEEDED ]] || fail "the queued job did not run"

for run in $(job_field "$job" '.runs[].id'); do
  # Rows with a training loss (an evaluation after the last update has a row of its own).
  must "$CLI" trajectory "$run" --csv | tail -n +2 | awk -F, '$2 != ""' | cut -d, -f1 >"$work/steps"
  [[ $(wc -l <"$work/steps") == "$steps" ]] || fail "run $run has $(wc -l <"$work/steps") steps"
  seq 0 $((steps - 1)) | cmp -s - "$work/steps" || fail "run $run has a gap or a repeat"
done
grep -q "resumes after a restart" "$work/server.log" || fail "the job was not resumed"
echo "e2e restart: all checks passed"
