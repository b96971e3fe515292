#!/usr/bin/env bash
# A server stopped in the middle of a job: on restart the job completes, a watcher that was
# streaming resumes from its cursor, and no step is lost or recorded twice.
SERVER=$1
CLI=$2
source "$(dirname "$0")/lib.sh"

db="$work/data/ablate.db"
# Read-only, so that nothing here recovers the database before the server does.
sql() { sqlite3 -readonly -cmd ".timeout 5000" "$db" "$1"; }
# The fewest and the most steps stored by a run of job $1.
steps_stored() {
  sql "SELECT min(n) || ' ' || max(n) FROM (SELECT count(s.step) AS n FROM runs r
       LEFT JOIN steps s ON s.run_id = r.id WHERE r.job_id = $1 GROUP BY r.id)"
}

start_server
# Lab 1's model: a few seconds a run here, so that the stop lands mid-job with room to spare.
steps=2500
job=$(must "$CLI" submit --name restart --steps $steps --init kaiming --init xavier)
queued=$(must "$CLI" submit --name queued-behind --steps 50 --init kaiming)

"$CLI" watch "$job" >"$work/watch.out" 2>"$work/watch.err" &
watcher=$!
# Stop once both runs have stored a couple of hundred steps and the watcher is following the
# job (it has printed its first line), rather than after a fixed time that a faster core or a
# slower machine turns into a stop after the job's end.
for _ in $(seq 1 600); do
  read -r fewest _ <<<"$(steps_stored "$job")"
  ((fewest >= 200)) && [[ -s "$work/watch.out" ]] && break
  sleep 0.05
done
[[ -s "$work/watch.out" ]] || fail "the watcher printed nothing before the stop: $(cat "$work/watch.err")"
kill -0 "$watcher" 2>/dev/null || fail "the watcher had ended before the stop: $(cat "$work/watch.err")"
[[ $(must "$CLI" health) == SERVING ]] || fail "the server is not SERVING"
# SIGTERM drains: the runs stop within a step, the writer commits what they recorded, and the
# server exits 0 within the bound a service manager allows it (TimeoutStopSec=15 in
# deploy/ablate-server.service).
before_stop=$(date +%s%N)
stop_server
stop_ms=$((($(date +%s%N) - before_stop) / 1000000))
((stop_ms < 15000)) || fail "the server took $stop_ms ms to stop on SIGTERM"
echo "SIGTERM to exit: $stop_ms ms"
# What the stop interrupted: the job mid-run, the other still queued. A job that had already
# ended would make the rest of this test pass without a restart to survive.
read -r fewest most <<<"$(steps_stored "$job")"
echo "stopped with $fewest to $most of $steps steps stored per run"
[[ $(sql "SELECT state FROM jobs WHERE id = $job") == running ]] ||
  fail "job $job had already ended when the server was stopped: lengthen it (steps=$steps)"
((fewest > 0 && most < steps)) ||
  fail "the stop did not land mid-run ($fewest to $most of $steps steps stored): lengthen the job"
[[ $(sql "SELECT state FROM jobs WHERE id = $queued") == queued ]] ||
  fail "job $queued was no longer queued at the stop"
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
grep -q "job $job (JOB_STATE_RUNNING) resumes after a restart" "$work/server.log" ||
  fail "job $job was not resumed"
echo "e2e restart: all checks passed"
