#!/usr/bin/env bash
# End to end: the real `ablate` CLI drives the real `ablate-server`: submit, watch to the end,
# list, show, trajectory, cancel, bad input, unknown ids, an unreachable server.
SERVER=$1
CLI=$2
source "$(dirname "$0")/lib.sh"

start_server

# A short lab job: uniform diverges, the others run every step.
job=$(must "$CLI" submit --name e2e-short --steps 200 --owner e2e)
[[ "$job" =~ ^[0-9]+$ ]] || fail "submit printed '$job', not a job id"
must "$CLI" watch "$job" >"$work/watch.out"
grep -q "diverged at step" "$work/watch.out" || fail "watch did not report uniform's divergence"
[[ $(job_field "$job" .state) == JOB_STATE_SUCCEEDED ]] || fail "job did not succeed"

must "$CLI" list >"$work/list.out"
grep -q "e2e-short" "$work/list.out" || fail "list does not show the job"
[[ $(must "$CLI" list --owner nobody --json | jq '.jobs | length') == 0 ]] \
  || fail "the owner filter kept another owner's job"

kaiming=$(job_field "$job" '.runs[] | select(.spec.init == "kaiming") | .id')
must "$CLI" trajectory "$kaiming" --csv >"$work/kaiming.csv"
[[ $(head -n 1 "$work/kaiming.csv") == "step,loss,val_loss,val_accuracy" ]] || fail "trajectory CSV has no header"
[[ $(awk -F, 'NR > 1 && $2 != ""' "$work/kaiming.csv" | wc -l) == 200 ]] || fail "kaiming trajectory is not 200 steps"
uniform=$(job_field "$job" '.runs[] | select(.spec.init == "uniform") | .id')
nan_step=$(job_field "$job" '.runs[] | select(.spec.init == "uniform") | .first_nonfinite_step')
grep -qE "^$nan_step,(nan|-?inf),[^,]*,[^,]*$" <(must "$CLI" trajectory "$uniform" --csv) \
  || fail "the divergence step's loss is not non-finite in the trajectory"

# Resubmitting the returned spec reproduces the trajectory bit for bit.
must "$CLI" show "$job" --json | jq '.spec' >"$work/job.json"
again=$(must "$CLI" submit --spec "$work/job.json")
must "$CLI" watch "$again" >/dev/null
kaiming_again=$(job_field "$again" '.runs[] | select(.spec.init == "kaiming") | .id')
cmp -s "$work/kaiming.csv" <(must "$CLI" trajectory "$kaiming_again" --csv) \
  || fail "the same spec gave a different trajectory"

# Cancel stops a long job within a step.
long=$(must "$CLI" submit --steps 100000 --init kaiming)
sleep 1
must "$CLI" cancel "$long" >/dev/null
[[ $(job_field "$long" .state) == JOB_STATE_CANCELLED ]] || fail "cancelled job is not cancelled"

# Bad input and unknown ids: one clear line, non-zero exit.
must_fail 2 "model.depth must be between 1 and 64" "$CLI" submit --depth 0
must_fail 2 "runs[0].init must be one of" "$CLI" submit --init sideways
must_fail 1 "not found" "$CLI" show 999999
must_fail 1 "not found" "$CLI" trajectory 999999
ABLATE_SERVER=127.0.0.1:1 must_fail 1 "127.0.0.1:1" "$CLI" list

echo "e2e cli/server: all checks passed"
