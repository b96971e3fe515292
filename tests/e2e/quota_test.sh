#!/usr/bin/env bash
# End to end: the server's quotas as a user meets them, over gRPC (the CLI) and HTTP (429):
# a job beyond --max-active-jobs-per-user or above --max-job-compute is refused in one sentence
# naming the limit, and another user is not held back.
SERVER=$1
CLI=$2
source "$(dirname "$0")/lib.sh"

start_server --http 127.0.0.1:0 --max-active-jobs-per-user 1 --max-job-compute 1e12
http=$(grep -o 'HTTP API on http://127.0.0.1:[0-9]*' "$work/server.log" | tail -n 1)
http=${http#HTTP API on }

# 100000 steps of one kaiming run: 4.9e12 multiply-adds with validation, above the limit;
# 10000 steps fit.
must_fail 1 "this job needs 4.91e12 multiply-adds" "$CLI" submit --steps 100000 --init kaiming
must_fail 1 "the limit per job is 1e12 (--max-job-compute)" "$CLI" submit --steps 100000 --init kaiming

long=$(must "$CLI" submit --steps 10000 --init kaiming --owner ada)
must_fail 1 "ada already has 1 job queued or running, the limit per user is 1 (--max-active-jobs-per-user)" \
  "$CLI" submit --steps 10 --owner ada
code=$(curl -sS -o "$work/refused.json" -w '%{http_code}' -H 'Content-Type: application/json' \
  -d '{"owner":"ada","spec":{"training":{"steps":10}}}' "$http/api/v1/jobs")
[[ "$code" == 429 ]] || fail "HTTP answered $code, not 429, to a submit beyond the quota"
jq -r .error.message "$work/refused.json" | grep -qF -- "--max-active-jobs-per-user" ||
  fail "the 429's message does not name the limit: $(cat "$work/refused.json")"

# Another user is not held back; cancelling frees the place.
must "$CLI" submit --steps 10 --init kaiming --owner bob >/dev/null
# The job trains for seconds (lab 1's model): it must still be running here, or its end, not
# the cancel, would free the place.
said=$(must "$CLI" cancel "$long")
[[ $said == "job $long cancelled" || $said == "job $long is stopping"* ]] ||
  fail "ada's job had ended before it was cancelled: lengthen it ($said)"
must "$CLI" submit --steps 10 --init kaiming --owner ada >/dev/null

stop_server
echo "PASS"
