#!/usr/bin/env bash
# End to end: a job's note and tags. s1 writes them on their job (CLI and HTTP), the instructor
# may too, s2 gets PERMISSION_DENIED / 403 with a sentence; the limits refuse with a sentence
# naming the rule (exit 2: the user's to fix); `ablate list --tag` and GET /api/v1/jobs?tag=
# filter by tag; the note and tags are kept across a restart and deleted with their job.
SERVER=$1
CLI=$2
source "$(dirname "$0")/lib.sh"

admin() { "$SERVER" admin "$@" --data-dir "$work/data"; }
token_of() { awk -F'\t' -v n="$1" '$1 == n { print $2 }' "$work/tokens.tsv"; }

admin add-class cs101 --instructor carol >"$work/tokens.tsv" || fail "add-class failed"
admin add-students cs101 s1 s2 >>"$work/tokens.tsv" || fail "add-students failed"
start_server --http 127.0.0.1:0
http=$(grep -o 'HTTP API on http://127.0.0.1:[0-9]*' "$work/server.log" | tail -n 1)
http=${http#HTTP API on }

export ABLATE_TOKEN
ABLATE_TOKEN=$(token_of s1)
a=$(must "$CLI" submit --steps 5 --init kaiming --name a)
b=$(must "$CLI" submit --steps 5 --init xavier --name b)
must "$CLI" watch "$a" >/dev/null
# A job without a name is named by what it changes from lab 1.
c=$(must "$CLI" submit --steps 5 --lr 0.01 --init kaiming)
[[ $(job_field "$c" .name) == "steps 5 · lr 0.01" ]] || fail "an unnamed job is not named by its differences: $(job_field "$c" .name)"
must "$CLI" watch "$b" >/dev/null

# The owner writes a note of two lines and tags.
[[ $(must "$CLI" note "$a" $'lr too high?\nuniform diverged at step 3') == $'lr too high?\nuniform diverged at step 3' ]] \
  || fail "ablate note does not print the note as stored"
[[ $(must "$CLI" tag "$a" add week-3 baseline) == "job $a tags: baseline week-3" ]] \
  || fail "ablate tag add does not print the sorted tags"
[[ $(must "$CLI" tag "$b" add week-3) == "job $b tags: week-3" ]] || fail "tagging job b failed"
[[ $(job_field "$a" '.tags | join(",")') == "baseline,week-3" ]] || fail "show --json lacks the tags"
show=$(must "$CLI" show "$a")
grep -q "^tags: *baseline week-3" <<<"$show" || fail "show lacks the tags line: $show"
grep -q "^  uniform diverged at step 3" <<<"$show" || fail "show lacks the note's second line: $show"

# The filter, CLI (and its `jobs` alias) and HTTP.
[[ $(must "$CLI" list --tag baseline --json | jq -c '[.jobs[].id | tostring]') == "[\"$a\"]" ]] \
  || fail "list --tag baseline should give job $a only"
[[ $(must "$CLI" jobs --tag week-3 --json | jq '.jobs | length') == 2 ]] || fail "jobs --tag week-3 should give both"
must "$CLI" list --tag week-3 | grep -q "TAGS" || fail "the list lacks a TAGS column"
n=$(curl -sS -H "Authorization: Bearer $ABLATE_TOKEN" "$http/api/v1/jobs?tag=baseline" | jq '.jobs | length')
[[ $n == 1 ]] || fail "GET /api/v1/jobs?tag=baseline gave $n jobs"

# Another student may read but not write.
ABLATE_TOKEN=$(token_of s2)
[[ $(job_field "$a" .note) == *"uniform diverged"* ]] || fail "s2 cannot read s1's note"
must_fail 1 "job $a belongs to s1; a student may annotate only their own jobs" "$CLI" note "$a" "mine now"
must_fail 1 "a student may annotate only their own jobs" "$CLI" tag "$a" rm baseline
code=$(curl -sS -o "$work/denied.json" -w '%{http_code}' -H "Authorization: Bearer $ABLATE_TOKEN" \
  -H 'Content-Type: application/json' -d '{"note":"x"}' "$http/api/v1/jobs/$a/notes")
[[ $code == 403 ]] || fail "HTTP answered $code, not 403, to another student's note"
jq -r .error.message "$work/denied.json" | grep -q "belongs to s1" || fail "the 403 lacks its sentence"

# The instructor may.
ABLATE_TOKEN=$(token_of carol)
[[ $(must "$CLI" tag "$a" rm baseline) == "job $a tags: week-3" ]] || fail "the instructor cannot remove a tag"

# The limits, each a sentence; the server's refusal of bad input exits 2.
ABLATE_TOKEN=$(token_of s1)
must_fail 2 'tag "Week 3" is not a tag: a tag is 1 to 32 characters of a-z 0-9 . _ -' \
  "$CLI" tag "$a" add "Week 3"
must_fail 2 "is not a tag" "$CLI" tag "$a" add "$(printf 'x%.0s' {1..33})"
must_fail 2 "is not a tag" "$CLI" tag "$a" add -- -lead
must_fail 2 "A job holds at most 8 tags; job $a would have 9" "$CLI" tag "$a" add t1 t2 t3 t4 t5 t6 t7 t8
must_fail 2 "The note is 2001 characters long; a note holds at most 2000 characters" \
  "$CLI" note "$a" "$(printf 'é%.0s' {1..2001})"
must "$CLI" note "$a" "$(printf 'é%.0s' {1..2000})" >/dev/null
must_fail 2 "The note contains the control character U+001B" "$CLI" note "$a" $'bad \e[31m'
must_fail 2 "The filter's tag" "$CLI" list --tag "No Good"
code=$(curl -sS -o "$work/bad.json" -w '%{http_code}' -H "Authorization: Bearer $ABLATE_TOKEN" \
  -H 'Content-Type: application/json' -d '{"add_tags":["a b"]}' "$http/api/v1/jobs/$a/notes")
[[ $code == 400 ]] || fail "HTTP answered $code, not 400, to a bad tag"
must_fail 1 "job 999999 not found" "$CLI" note 999999 "x"
[[ $(job_field "$a" '.tags | join(",")') == "week-3" ]] || fail "a refused edit changed the tags"

# A second cancel says there is nothing to cancel.
long=$(must "$CLI" submit --steps 100000 --init kaiming --name long)
must "$CLI" cancel "$long" >/dev/null
for _ in $(seq 1 100); do
  [[ $(job_field "$long" .state) == JOB_STATE_CANCELLED ]] && break
  sleep 0.1
done
[[ $(must "$CLI" cancel "$long") == "job $long was already cancelled; nothing to cancel" ]] \
  || fail "a second cancel does not say there is nothing to cancel"
[[ $(must "$CLI" cancel "$a") == "job $a had already succeeded; nothing to cancel" ]] \
  || fail "cancelling an ended job does not say so"

# Removing the note; it survives a restart; it goes with its job.
[[ $(must "$CLI" note "$a" "") == "job $a has no note" ]] || fail "an empty note does not remove it"
must "$CLI" note "$b" "kept" >/dev/null
stop_server
start_server --http 127.0.0.1:0
[[ $(job_field "$b" .note) == kept && $(job_field "$b" '.tags[0]') == week-3 ]] \
  || fail "the note or tags were lost in a restart"
must "$CLI" delete "$b" >/dev/null
[[ $(sqlite3 "$work/data/ablate.db" "SELECT count(*) FROM job_tags WHERE job_id = $b") == 0 ]] \
  || fail "deleting job $b left its tags"
[[ $(sqlite3 "$work/data/ablate.db" "SELECT count(*) FROM job_notes WHERE job_id = $b") == 0 ]] \
  || fail "deleting job $b left its note"
echo "PASS"
