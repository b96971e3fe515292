#!/usr/bin/env bash
# ablate-server --executor slurm against the one-node Slurm cluster that the ctest fixture
# slurm.cluster_start runs in $ABLATE_SLURM_TEST_DIR (deploy/slurm/start-one-node.sh): real
# sbatch, squeue, scontrol and scancel, real ablate-worker jobs. One case per call:
#   slurm_executor_live_test.sh CASE SERVER CLI WORKER
# Cases: lab, fanout, scancel, kill9, cancel, secret, tls, missing. Exit 77 (skipped) without a
# cluster, unless CI=true.
CASE=$1
SERVER=$2
CLI=$3
WORKER=$4
source "$(dirname "$0")/../../e2e/lib.sh"

cluster="${ABLATE_SLURM_TEST_DIR:-}"
if [[ -z "$cluster" || ! -f "$cluster/env" ]]; then
  echo "no one-node Slurm cluster in '${cluster}' (slurm.cluster_start starts it when Slurm is installed)"
  [[ "${CI:-}" == "true" ]] && exit 1
  exit 77
fi
export SLURM_CONF="$cluster/slurm.conf"
PATH="$PATH:/usr/sbin:/sbin"

db="$data_dir/ablate.db"
sql() { sqlite3 -readonly -cmd ".timeout 5000" "${2:-$db}" "$1"; }
# Step, loss and gradient norm of every run of a job, exactly: what must be bit-identical.
training_of() {
  sql "SELECT r.idx, s.step, printf('%!.17g', s.loss), s.loss_class,
              printf('%!.17g', s.weight_grad_norm), s.weight_grad_norm_class
       FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.job_id = $1 ORDER BY r.idx, s.step" \
    "${2:-$db}"
}
slurm_job_of_run() { sql "SELECT slurm_job_id FROM slurm_dispatches WHERE run_id = $1"; }
dispatches_of_run() { sql "SELECT dispatches FROM slurm_dispatches WHERE run_id = $1"; }
runs_of() { sql "SELECT id FROM runs WHERE job_id = $1 ORDER BY idx"; }
slurm_state() { scontrol show job -o "$1" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq 1 $((seconds * 10))); do
    "$@" && return 0
    sleep 0.1
  done
  fail "timed out after ${seconds}s waiting for $what"
}
steps_of_run() { sql "SELECT count(*) FROM steps WHERE run_id = $1"; }

slurm_args=(--executor slurm --slurm-worker "$WORKER" --slurm-poll-seconds 0.5
            --slurm-log-dir "$work/slurm" --slurm-reconnect-seconds 60)
mkdir -p "$work/slurm"
small=(--width 64 --depth 4 --input-dim 64)

# The same job on a local server, for the bit-for-bit comparisons: its training rows.
reference_training() {  # reference_training NAME SUBMIT-ARGS...
  local name=$1
  shift
  local ref_data="$work/ref-$name" ref_port ref_pid job
  "$SERVER" --listen 127.0.0.1:0 --data-dir "$ref_data" --workers 2 >"$work/ref-$name.log" 2>&1 &
  ref_pid=$!
  for _ in $(seq 1 100); do
    ref_port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/ref-$name.log" | cut -d: -f2 || true)
    [[ -n "$ref_port" ]] && break
    sleep 0.1
  done
  job=$(ABLATE_SERVER="127.0.0.1:$ref_port" "$CLI" submit "$@") || fail "reference submit"
  ABLATE_SERVER="127.0.0.1:$ref_port" "$CLI" watch "$job" >/dev/null || fail "reference watch"
  kill -TERM "$ref_pid"
  wait "$ref_pid" || true
  training_of "$job" "$ref_data/ablate.db"
}

case "$CASE" in
  lab)
    # ablate lab through Slurm: the five files, and the trajectories of a local server.
    start_server "${slurm_args[@]}"
    (cd "$work" && must "$CLI" lab --out "$work/slurm-lab" >/dev/null)
    for f in job.json losses.json loss_curves.png manifest.json README.md; do
      [[ -s "$work/slurm-lab/$f" ]] || fail "ablate lab through Slurm did not give $f"
    done
    job=$(sql "SELECT max(id) FROM jobs")
    for run in $(runs_of "$job"); do
      id=$(slurm_job_of_run "$run")
      [[ -n "$id" ]] || fail "run $run has no Slurm job recorded"
      # The worker exits once the server has the run's end: its job completes just after.
      wait_for 30 "Slurm job $id of run $run to complete" bash -c "[[ \$(scontrol show job -o $id | grep -o 'JobState=[A-Z_]*') == JobState=COMPLETED ]]"
    done
    training_of "$job" >"$work/slurm.rows"
    reference_training lab >"$work/local.rows"
    # uniform diverges within a few steps; xavier and kaiming run 1000 each
    (($(wc -l <"$work/slurm.rows") > 2000)) || fail "$(wc -l <"$work/slurm.rows") steps through Slurm"
    cmp -s "$work/slurm.rows" "$work/local.rows" || fail "lab 1 through Slurm is not bit-identical to local"
    ;;
  fanout)
    # 20 runs at once (4 jobs of 5), all on Slurm, all complete.
    start_server "${slurm_args[@]}"
    jobs=()
    for i in 1 2 3 4; do
      jobs+=("$(must "$CLI" submit --name "fan$i" "${small[@]}" --steps 300 \
                 --init kaiming --init xavier --init kaiming --init xavier --init kaiming)")
    done
    for job in "${jobs[@]}"; do
      must "$CLI" watch "$job" --reconnect-timeout 60 >/dev/null
      [[ $(job_field "$job" .state) == JOB_STATE_SUCCEEDED ]] || fail "job $job: $(job_field "$job" .error)"
    done
    [[ $(sql "SELECT count(*) FROM slurm_dispatches") == 20 ]] || fail "not 20 Slurm jobs"
    [[ $(sql "SELECT count(*) FROM steps") == 6000 ]] || fail "$(sql "SELECT count(*) FROM steps") steps, not 6000"
    ;;
  scancel)
    # A worker killed by scancel mid-run: the run is dispatched again and its trajectory is
    # contiguous and that of a local run.
    start_server "${slurm_args[@]}"
    # Steps arrive a few thousand at a time: 40,000 (a couple of seconds here) leave the scancel
    # most of the run to cut short.
    steps=40000
    spec=(--name killed "${small[@]}" --steps $steps --init kaiming)
    job=$(must "$CLI" submit "${spec[@]}")
    run=$(runs_of "$job")
    wait_for 60 "steps of run $run" bash -c "(( \$(sqlite3 -readonly '$db' 'SELECT count(*) FROM steps WHERE run_id = $run') >= 500 ))"
    first=$(slurm_job_of_run "$run")
    at_scancel=$(steps_of_run "$run")
    [[ $(sql "SELECT state FROM runs WHERE id = $run") == running ]] && ((at_scancel < steps)) ||
      fail "run $run had ended ($at_scancel of $steps steps) before the scancel: lengthen it"
    scancel "$first"
    echo "scancel with $at_scancel of $steps steps stored"
    must "$CLI" watch "$job" --reconnect-timeout 60 >/dev/null
    [[ $(job_field "$job" .state) == JOB_STATE_SUCCEEDED ]] || fail "job $job: $(job_field "$job" .error)"
    [[ $(dispatches_of_run "$run") == 2 ]] || fail "run $run was dispatched $(dispatches_of_run "$run") times"
    [[ $(slurm_job_of_run "$run") != "$first" ]] || fail "no new Slurm job"
    grep -q "ended without the run's result" "$work/server.log" || fail "the loss was not noticed"
    training_of "$job" >"$work/slurm.rows"
    reference_training scancel "${spec[@]}" >"$work/local.rows"
    cmp -s "$work/slurm.rows" "$work/local.rows" || fail "the re-dispatched run is not bit-identical"
    ;;
  kill9)
    # The server killed with SIGKILL while runs train on Slurm: after a restart every job ends,
    # the running workers reconnecting.
    start_server "${slurm_args[@]}"
    # Steps arrive a few thousand at a time: at 8,000 a run could hold nearly half of them by
    # the time 1,000 were seen; at 20,000 one job's runs once ended while the other job's
    # workers were still starting.
    steps=60000
    jobs=()
    for i in 1 2; do
      jobs+=("$(must "$CLI" submit --name "k$i" "${small[@]}" --steps $steps --init kaiming --init xavier)")
    done
    # Every job training (a worker can take seconds to start, and until then its job is
    # queued), and steps stored.
    every_job_running() {
      (($(sql "SELECT count(*) FROM jobs WHERE state = 'running'") == ${#jobs[@]}))
    }
    wait_for 60 "every job to be running" every_job_running
    wait_for 60 "steps" bash -c "(( \$(sqlite3 -readonly '$db' 'SELECT count(*) FROM steps') >= 1000 ))"
    kill -KILL "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
    # The kill must find every job training, or a worker's reconnection is not what ends it.
    for job in "${jobs[@]}"; do
      state=$(sql "SELECT state FROM jobs WHERE id = $job")
      [[ $state == running ]] || fail "job $job was $state at the kill: lengthen the jobs"
    done
    most=$(sql "SELECT max(n) FROM (SELECT count(*) AS n FROM steps GROUP BY run_id)")
    ((most < steps)) || fail "a run had stored all its $steps steps before the kill: lengthen the jobs"
    echo "killed with at most $most of $steps steps stored per run"
    sleep 1
    start_server "${slurm_args[@]}"
    for job in "${jobs[@]}"; do
      must "$CLI" watch "$job" --reconnect-timeout 60 >/dev/null
      [[ $(job_field "$job" .state) == JOB_STATE_SUCCEEDED ]] || fail "job $job: $(job_field "$job" .error)"
      [[ $(training_of "$job" | wc -l) == $((2 * steps)) ]] || fail "job $job has $(training_of "$job" | wc -l) steps"
    done
    grep -q "reconnecting" "$work/server.log" || fail "no worker reconnected"
    ;;
  cancel)
    # ablate cancel ends the run's Slurm job.
    start_server "${slurm_args[@]}"
    job=$(must "$CLI" submit --name cancelled "${small[@]}" --steps 50000 --init kaiming)
    run=$(runs_of "$job")
    wait_for 60 "steps of run $run" bash -c "(( \$(sqlite3 -readonly '$db' 'SELECT count(*) FROM steps WHERE run_id = $run') >= 100 ))"
    id=$(slurm_job_of_run "$run")
    [[ $(slurm_state "$id") == RUNNING ]] || fail "Slurm job $id is $(slurm_state "$id")"
    must "$CLI" cancel "$job" >/dev/null
    wait_for 30 "the cancelled job" bash -c "[[ \$(sqlite3 -readonly '$db' 'SELECT state FROM jobs WHERE id = $job') == cancelled ]]"
    wait_for 30 "Slurm job $id to end" bash -c "scontrol show job -o $id | grep -Eq 'JobState=(CANCELLED|COMPLETED)'"
    ;;
  secret)
    # A worker with a wrong secret is refused, and the run it claims goes on.
    # Long enough (a few seconds here) to be training still when the intruder has been refused:
    # at 3,000 steps the run had ended by then, and the refusal came from the check for runs no
    # longer supervised. On a loaded machine the intruder takes long to start: 40,000 steps were
    # half done by its refusal.
    steps=100000
    start_server "${slurm_args[@]}"
    job=$(must "$CLI" submit --name guarded "${small[@]}" --steps $steps --init kaiming)
    run=$(runs_of "$job")
    wait_for 60 "steps of run $run" bash -c "(( \$(sqlite3 -readonly '$db' 'SELECT count(*) FROM steps WHERE run_id = $run') >= 10 ))"
    rc=0
    ABLATE_SERVER="127.0.0.1:$port" ABLATE_WORKER_SECRET="abl_not-the-secret" \
      "$WORKER" --run "$run" --reconnect-for 5 >"$work/intruder.log" 2>&1 || rc=$?
    [[ $(sql "SELECT state FROM runs WHERE id = $run") == running ]] && (($(steps_of_run "$run") < steps)) ||
      fail "run $run had ended ($(steps_of_run "$run") of $steps steps) when the intruder was refused: lengthen it"
    [[ $rc == 4 ]] || fail "the intruder exited with $rc: $(cat "$work/intruder.log")"
    grep -q "refused" "$work/intruder.log" || fail "no refusal: $(cat "$work/intruder.log")"
    grep -q "the secret is not that of run $run's current Slurm job" "$work/intruder.log" ||
      fail "the intruder was not refused as one claiming a supervised run: $(cat "$work/intruder.log")"
    grep -q "wrong secret" "$work/server.log" || fail "the server did not log the refusal"
    echo "the intruder was refused with $(steps_of_run "$run") of $steps steps stored"
    must "$CLI" watch "$job" >/dev/null
    [[ $(job_field "$job" .state) == JOB_STATE_SUCCEEDED ]] || fail "job $job: $(job_field "$job" .error)"
    ;;
  tls)
    # Over TLS: the workers trust the server's certificate, handed to them in their job's
    # environment, and reach it by the certificate's name.
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
      -addext "subjectAltName=IP:127.0.0.1" -keyout "$work/key.pem" -out "$work/cert.pem" \
      >/dev/null 2>&1 || fail "openssl could not make a test certificate"
    start_server "${slurm_args[@]}" --tls-cert "$work/cert.pem" --tls-key "$work/key.pem"
    grep -q "over TLS" "$work/server.log" || fail "the workers are not told to use TLS"
    export ABLATE_TLS_CA="$work/cert.pem"
    job=$(must "$CLI" submit --name tls "${small[@]}" --steps 300 --init kaiming)
    must "$CLI" watch "$job" >/dev/null
    [[ $(job_field "$job" .state) == JOB_STATE_SUCCEEDED ]] || fail "job $job: $(job_field "$job" .error)"
    grep -q "over TLS" "$work"/slurm/ablate-run-*.out ||
      fail "the worker did not connect over TLS: $(cat "$work"/slurm/ablate-run-*)"
    ;;
  missing)
    # A worker binary missing on the node: the run fails with a sentence that says so.
    start_server --executor slurm --slurm-worker /nonexistent/ablate-worker \
      --slurm-poll-seconds 0.5 --slurm-log-dir "$work/slurm"
    job=$(must "$CLI" submit --name nowhere "${small[@]}" --steps 100 --init kaiming)
    "$CLI" watch "$job" >/dev/null 2>&1 || true
    [[ $(job_field "$job" .state) == JOB_STATE_FAILED ]] || fail "job $job is $(job_field "$job" .state)"
    error=$(job_field "$job" .error)
    [[ "$error" == *"/nonexistent/ablate-worker does not exist"* ]] || fail "the error does not say so: $error"
    echo "the run failed with: $error"
    ;;
  *)
    fail "unknown case $CASE"
    ;;
esac
echo "PASS $CASE"
