#!/usr/bin/env bash
# Numbers that the store once refused: a learning rate of 1e-05, layer statistics below 1e-4
# (uniform ±0.1 at depth 8), and the underflowing or overflowing statistics of 24 layers under
# every init. Each job ends with every run in a final state, its statistics stored, and its
# README and manifest written.
SERVER=$1
CLI=$2
source "$(dirname "$0")/lib.sh"

start_server

# Every run of job $1 ended (completed or diverged), with $2 layers of statistics at init; the
# job succeeded and its README and manifest can be downloaded.
check_job() {
  local job=$1 layers=$2
  [[ $(job_field "$job" .state) == JOB_STATE_SUCCEEDED ]] \
    || fail "job $job is $(job_field "$job" .state): $(job_field "$job" .error)"
  local runs
  runs=$(must "$CLI" show "$job" --json)
  jq -e '[.runs[].state] | all(. == "RUN_STATE_COMPLETED" or . == "RUN_STATE_DIVERGED")' \
    <<<"$runs" >/dev/null || fail "job $job has a run that did not end: $(jq -c '[.runs[].state]' <<<"$runs")"
  jq -e --argjson n "$layers" '[.runs[].init_stats | length] | all(. == $n)' <<<"$runs" >/dev/null \
    || fail "job $job has a run without its $layers layers of statistics"
  must "$CLI" download "$job" --out "$work/job-$job" >/dev/null
  [[ -s "$work/job-$job/README.md" && -s "$work/job-$job/manifest.json" ]] \
    || fail "job $job has no README or manifest"
}

# Submits with --watch, as a person would; prints the job's id (the first line).
submit_watch() {
  must "$CLI" submit "$@" --watch >"$work/submit.out"
  head -n 1 "$work/submit.out"
}

job=$(submit_watch --lr 0.00001 --steps 20 --depth 4 --width 32 --input-dim 32 --init kaiming)
[[ $(job_field "$job" .spec.training.lr) == 1e-05 ]] \
  || fail "the learning rate came back as $(job_field "$job" .spec.training.lr)"
check_job "$job" 4

job=$(submit_watch --depth 8 --steps 20 --init uniform:low=-0.1,high=0.1)
check_job "$job" 8

for init in uniform xavier kaiming xavier_uniform kaiming_uniform orthogonal; do
  job=$(submit_watch --depth 24 --init "$init" --steps 50)
  check_job "$job" 24
done
# Nothing was refused on the way.
! grep -q "refused" "$work/server.log" || fail "the store refused an event: $(grep refused "$work/server.log")"
echo "e2e exact numbers: all checks passed"
