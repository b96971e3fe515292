#!/usr/bin/env bash
# The server killed with SIGKILL in the middle of a job, with a finished job, a queued job and a
# live watcher around it. Before the restart the database passes PRAGMA integrity_check and
# its committed steps are saved; after it the finished job is untouched, the interrupted job
# is re-run from its spec and completes (its trajectory contiguous, its committed steps
# unchanged, and bit for bit the trajectory of the same spec on a fresh server), the queued job
# runs, and the watcher resumes on its own.
SERVER=$1
CLI=$2
source "$(dirname "$0")/lib.sh"

db="$work/data/ablate.db"
# Read-only, so that nothing here recovers the database before the server does.
sql() { sqlite3 -readonly -cmd ".timeout 5000" "${2:-$db}" "$1"; }
# Every row of a job's steps, reals printed exactly (%!.17g round-trips a double).
steps_of() {
  sql "SELECT r.idx, s.step, s.seq, printf('%!.17g', s.loss), s.loss_class,
              printf('%!.17g', s.weight_grad_norm), s.weight_grad_norm_class,
              printf('%!.17g', s.seconds)
       FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.job_id = $1 ORDER BY r.idx, s.step" \
    "${2:-$db}"
}
# What must be identical between two trainings of one spec: step, loss and gradient norm.
training_of() {
  sql "SELECT r.idx, s.step, printf('%!.17g', s.loss), s.loss_class,
              printf('%!.17g', s.weight_grad_norm), s.weight_grad_norm_class
       FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.job_id = $1 ORDER BY r.idx, s.step" \
    "${2:-$db}"
}
# A finished job's rows besides its steps: the job, its runs, its files' checksums.
record_of() {
  sql "SELECT id, state, error, started_at, finished_at FROM jobs WHERE id = $1;
       SELECT id, state, outcome, steps_done, printf('%!.17g', final_loss) FROM runs
         WHERE job_id = $1 ORDER BY idx;
       SELECT name, sha256 FROM artifacts WHERE job_id = $1 ORDER BY id"
}

small=(--width 128 --depth 6 --input-dim 128)
steps=5000  # about 5 s per run here: long enough for the kill to land mid-job
start_server

done_job=$(must "$CLI" submit --name finished "${small[@]}" --steps 300 --init kaiming)
must "$CLI" watch "$done_job" >/dev/null
steps_of "$done_job" >"$work/done.before"
record_of "$done_job" >"$work/done.record.before"
[[ $(wc -l <"$work/done.before") == 300 ]] || fail "the finished job has $(wc -l <"$work/done.before") steps"

job=$(must "$CLI" submit --name interrupted "${small[@]}" --steps $steps --init kaiming --init xavier)
queued=$(must "$CLI" submit --name queued "${small[@]}" --steps 200 --init kaiming)
"$CLI" watch "$job" --reconnect-timeout 60 >"$work/watch.out" 2>"$work/watch.err" &
watcher=$!

# Kill once both runs have committed a few hundred steps and the watcher is following the job
# (it has printed its first line: on a loaded machine it may start late, and a watch that never
# reached the server fails at once, as it should, instead of waiting to reconnect).
for _ in $(seq 1 300); do
  n=$(sql "SELECT count(*) FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.job_id = $job")
  ((n >= 400)) && [[ -s "$work/watch.out" ]] && break
  sleep 0.05
done
[[ -s "$work/watch.out" ]] || fail "the watcher printed nothing before the kill: $(cat "$work/watch.err")"
kill -KILL "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""
[[ $(sql "SELECT state FROM jobs WHERE id = $job") == running ]] \
  || fail "the kill did not land mid-job (job $job is $(sql "SELECT state FROM jobs WHERE id = $job"))"
[[ $(sql "SELECT state FROM jobs WHERE id = $queued") == queued ]] || fail "job $queued is not queued"

[[ $(sql "PRAGMA integrity_check") == ok ]] || fail "integrity_check after SIGKILL: $(sql "PRAGMA integrity_check")"
steps_of "$job" >"$work/interrupted.before"
committed=$(wc -l <"$work/interrupted.before")
((committed > 0 && committed < 2 * steps)) || fail "$committed steps committed at the kill"
echo "killed with $committed of $((2 * steps)) steps committed"

start_server  # same port: the watcher reconnects to it
wait "$watcher" || fail "the watcher did not survive the kill: $(cat "$work/watch.err")"
grep -q "resumes after a restart" "$work/server.log" || fail "the job was not resumed"
[[ $(job_field "$job" .state) == JOB_STATE_SUCCEEDED ]] || fail "the interrupted job did not finish"
must "$CLI" watch "$queued" >/dev/null
[[ $(job_field "$queued" .state) == JOB_STATE_SUCCEEDED ]] || fail "the queued job did not run"

# The finished job: every row as before.
steps_of "$done_job" | cmp -s - "$work/done.before" || fail "the finished job's steps changed"
record_of "$done_job" | cmp -s - "$work/done.record.before" || fail "the finished job's record changed"

# The interrupted job: contiguous 0..steps-1 in each run, its committed rows untouched.
for idx in 0 1; do
  sql "SELECT step FROM steps s JOIN runs r ON r.id = s.run_id
       WHERE r.job_id = $job AND r.idx = $idx ORDER BY step" >"$work/steps.$idx"
  seq 0 $((steps - 1)) | cmp -s - "$work/steps.$idx" || fail "run $idx has a gap or a repeat"
done
steps_of "$job" | grep -Fxf "$work/interrupted.before" | cmp -s - "$work/interrupted.before" \
  || fail "steps committed before the kill changed after the restart"
[[ $(sql "PRAGMA integrity_check") == ok ]] || fail "integrity_check after the restart"

# The same spec on a fresh server trains the same trajectory, bit for bit.
must "$CLI" show "$job" --json | jq '.spec' >"$work/spec.json"
stop_server
mv "$work/data" "$work/crashed"
mv "$work/server.log" "$work/crashed.log"
port=0
start_server
fresh=$(must "$CLI" submit --spec "$work/spec.json")
must "$CLI" watch "$fresh" >/dev/null
training_of "$fresh" "$work/data/ablate.db" >"$work/fresh.training"
training_of "$job" "$work/crashed/ablate.db" >"$work/crashed.training"
[[ $(wc -l <"$work/fresh.training") == $((2 * steps)) ]] || fail "the fresh run is incomplete"
cmp -s "$work/fresh.training" "$work/crashed.training" \
  || fail "the resumed trajectory differs from a fresh run of the same spec"
echo "e2e crash: all checks passed"
