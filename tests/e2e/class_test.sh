#!/usr/bin/env bash
# End to end: sharing a server with two classes. `ablate-server admin` creates the classes, an
# instructor each and 30 student tokens; students submit through the CLI with their tokens,
# see their own class's jobs and nothing of the other class, may not cancel or delete a
# classmate's job, and a revoked token stops working at once. A server without users refuses
# to listen beyond loopback.
SERVER=$1
CLI=$2
source "$(dirname "$0")/lib.sh"

admin() { "$SERVER" admin "$@" --data-dir "$work/data"; }
token_of() { awk -F'\t' -v n="$1" '$1 == n { print $2 }' "$work/tokens.tsv"; }
small=(--steps 20 --width 16 --depth 3 --input-dim 16 --init kaiming)

# Without users, only loopback: 0.0.0.0 (gRPC or HTTP) is refused with a reason.
for flags in "--listen 0.0.0.0:0" "--listen 127.0.0.1:0 --http 0.0.0.0:0"; do
  rc=0
  # shellcheck disable=SC2086
  "$SERVER" $flags --data-dir "$work/open" >"$work/refused.log" 2>&1 || rc=$?
  [[ $rc == 1 ]] || fail "an unauthenticated server on 0.0.0.0 ($flags) exited $rc, not 1"
  grep -q "refusing to listen on 0.0.0.0:0 without authentication" "$work/refused.log" \
    || fail "no reason given for refusing 0.0.0.0: $(cat "$work/refused.log")"
  grep -q -- "--allow-unauthenticated" "$work/refused.log" || fail "the refusal names no way out"
done

# Two classes: cs101 (carol and 30 students), cs102 (dan and eve).
admin add-class cs101 --instructor carol >"$work/tokens.tsv" || fail "add-class cs101 failed"
for i in $(seq -w 1 30); do echo "s$i"; done >"$work/students.txt"
admin add-students cs101 --names-file "$work/students.txt" >>"$work/tokens.tsv" \
  || fail "add-students failed"
admin add-class cs102 --instructor dan >>"$work/tokens.tsv" || fail "add-class cs102 failed"
admin add-user cs102 eve >>"$work/tokens.tsv" || fail "add-user failed"
[[ $(wc -l <"$work/tokens.tsv") == 33 ]] || fail "expected 33 tokens, got $(wc -l <"$work/tokens.tsv")"
[[ $(cut -f2 "$work/tokens.tsv" | sort -u | wc -l) == 33 ]] || fail "two users got the same token"
grep -qv $'\tabl_' "$work/tokens.tsv" && fail "a token line is not 'name<TAB>abl_...'"
must_fail 1 "must be 1 to 64 characters" admin add-user cs101 "no spaces"
must_fail 1 "already exists" admin add-user cs102 s01
# Only hashes are stored.
if sqlite3 "$work/data/ablate.db" .dump | grep -qF "$(token_of s01)"; then
  fail "a token is stored in the database as it is"
fi

start_server
grep -q "authentication is on" "$work/server.log" || fail "the server did not say auth is on"

# No token, or a wrong one: refused with what to do.
must_fail 1 "needs a token: pass --token or set ABLATE_TOKEN" "$CLI" list
must_fail 1 "did not accept the token" "$CLI" --token abl_wrong list

# Every one of the 30 students' tokens works.
for i in $(seq -w 1 30); do
  [[ $(ABLATE_TOKEN=$(token_of "s$i") must "$CLI" whoami) == "s$i (student of class cs101)" ]] \
    || fail "s$i's token does not identify s$i"
done

# Students submit with their tokens (env var or flag); the job's owner is the token's user.
a=$(ABLATE_TOKEN=$(token_of s01) must "$CLI" submit --name s01-job "${small[@]}")
b=$(must "$CLI" --token "$(token_of s02)" submit --name s02-job "${small[@]}")
e=$(ABLATE_TOKEN=$(token_of eve) must "$CLI" submit --name eve-job "${small[@]}")
ABLATE_TOKEN=$(token_of s01) must "$CLI" watch "$a" >/dev/null
ABLATE_TOKEN=$(token_of s02) must "$CLI" watch "$b" >/dev/null
ABLATE_TOKEN=$(token_of eve) must "$CLI" watch "$e" >/dev/null
export ABLATE_TOKEN
ABLATE_TOKEN=$(token_of s01)
[[ $(job_field "$a" .owner) == s01 ]] || fail "job $a is not owned by s01"
must_fail 1 "permission denied" "$CLI" submit --owner s02 "${small[@]}"

# A class sees its own jobs, classmates' included, and nothing of the other class.
ABLATE_TOKEN=$(token_of s02)
[[ $(must "$CLI" list --json | jq -c '[.jobs[].id | tonumber] | sort') == "[$a,$b]" ]] \
  || fail "s02 does not see exactly cs101's jobs"
[[ $(job_field "$a" .owner) == s01 ]] || fail "s02 cannot read s01's job"
[[ $(must "$CLI" list --owner s01 --json | jq '.jobs | length') == 1 ]] \
  || fail "the owner filter does not work within the class"
ABLATE_TOKEN=$(token_of eve)
[[ $(must "$CLI" list --json | jq -c '[.jobs[].id | tonumber]') == "[$e]" ]] \
  || fail "eve does not see exactly cs102's job"
must_fail 1 "not found" "$CLI" show "$a"
kaiming=$(ABLATE_TOKEN=$(token_of s01) job_field "$a" '.runs[0].id')
must_fail 1 "not found" "$CLI" trajectory "$kaiming"
must_fail 1 "not found" "$CLI" download "$a" --out "$work/stolen"
ABLATE_TOKEN=$(token_of dan)
must_fail 1 "not found" "$CLI" show "$a"  # instructors of another class too
[[ $(must "$CLI" list --json | jq '.jobs | length') == 1 ]] || fail "dan sees another class's jobs"

# Cancel and delete: one's own, or as the instructor; never a classmate's.
ABLATE_TOKEN=$(token_of s01)
# Lab 1's own model (a few hundred steps a second here), for a job that is still training when
# it is cancelled: the small one's 100,000 steps took a second, so the cancel could come after
# its end.
long=$(must "$CLI" submit --name long --steps 100000 --init kaiming)
# From here to the instructor's cancel, the job must not end: a classmate's cancel is refused
# while it runs (and, below, once it has ended).
state=$(job_field "$long" .state)
[[ $state == JOB_STATE_RUNNING || $state == JOB_STATE_QUEUED ]] ||
  fail "job $long had ended ($state) before it was cancelled: lengthen it"
ABLATE_TOKEN=$(token_of s02)
must_fail 1 "belongs to s01" "$CLI" cancel "$long"
must_fail 1 "belongs to s01" "$CLI" delete "$a"
ABLATE_TOKEN=$(token_of s01)
must_fail 1 "cancel it first" "$CLI" delete "$long"
ABLATE_TOKEN=$(token_of carol)
# The answer is "cancelled", or "is stopping" when the run has not yet seen its stop (a loaded
# machine): then the job must end cancelled soon after.
said=$(must "$CLI" cancel "$long")
[[ $said != *"had already"* ]] || fail "job $long had ended before it was cancelled: lengthen it ($said)"
[[ $said == "job $long cancelled" || $said == "job $long is stopping"* ]] ||
  fail "the instructor cannot cancel: $said"
for _ in $(seq 100); do
  [[ $(must "$CLI" show "$long" --json | jq -r '(.job.state // .state) | ascii_upcase') == *CANCELLED ]] && break
  sleep 0.1
done
[[ $(must "$CLI" show "$long" --json | jq -r '(.job.state // .state) | ascii_upcase') == *CANCELLED ]] ||
  fail "the instructor's cancel did not end the job"
ABLATE_TOKEN=$(token_of s02) must_fail 1 "belongs to s01" "$CLI" cancel "$long"
ABLATE_TOKEN=$(token_of s01)
must "$CLI" download "$a" --out "$work/a" >/dev/null
[[ -s "$work/a/job.json" ]] || fail "s01 could not download their own job"
[[ $(must "$CLI" delete "$a") == "job $a deleted" ]] || fail "s01 cannot delete their own job"
must_fail 1 "not found" "$CLI" show "$a"

# Revoking works at once, on the running server.
must "$CLI" whoami >/dev/null
admin revoke s01 2>/dev/null || fail "revoke failed"
must_fail 1 "did not accept the token" "$CLI" list
ABLATE_TOKEN=$(token_of s02) must "$CLI" list >/dev/null  # others are unaffected
admin new-token s01 >"$work/new.tsv" || fail "new-token failed"
ABLATE_TOKEN=$(cut -f2 "$work/new.tsv") must "$CLI" whoami >/dev/null

echo "e2e class: all checks passed"
