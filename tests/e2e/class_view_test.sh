#!/usr/bin/env bash
# End to end: the class view. Six students of cs101 run lab 1 (shortened to 20 steps); s6's
# uniform has the wrong bounds (U[-0.1, 0.1]) and does not diverge, s5 trains xavier twice
# with one seed; eve of cs102 runs a job too. `ablate class` groups the class's runs with
# bands and outcome distributions, shows the instructor every student with s6 and s5 flagged,
# shows a student only their own row, never shows another class, and `--report DIR` writes
# the figure, markdown and JSON.
SERVER=$1
CLI=$2
source "$(dirname "$0")/lib.sh"

admin() { "$SERVER" admin "$@" --data-dir "$work/data"; }
token_of() { awk -F'\t' -v n="$1" '$1 == n { print $2 }' "$work/tokens.tsv"; }
# Lab 1's network and data (uniform's blow-up needs the width), 20 steps.
short=(--steps 20 --eval-every 10 --name lab-01)

admin add-class cs101 --instructor carol >"$work/tokens.tsv" || fail "add-class failed"
admin add-students cs101 s1 s2 s3 s4 s5 s6 >>"$work/tokens.tsv" || fail "add-students failed"
admin add-class cs102 --instructor dan >>"$work/tokens.tsv" || fail "add-class cs102 failed"
admin add-user cs102 eve >>"$work/tokens.tsv" || fail "add-user failed"
start_server

export ABLATE_TOKEN
jobs=()
for s in s1 s2 s3 s4; do
  ABLATE_TOKEN=$(token_of $s)
  jobs+=("$s:$(must "$CLI" submit "${short[@]}")")
done
ABLATE_TOKEN=$(token_of s5)
jobs+=("s5:$(must "$CLI" submit "${short[@]}" --init xavier:seed=5 --init xavier:seed=5)")
ABLATE_TOKEN=$(token_of s6)
jobs+=("s6:$(must "$CLI" submit "${short[@]}" --init uniform:low=-0.1,high=0.1 --init xavier --init kaiming)")
ABLATE_TOKEN=$(token_of eve)
jobs+=("eve:$(must "$CLI" submit "${short[@]}" --init kaiming)")
for entry in "${jobs[@]}"; do
  ABLATE_TOKEN=$(token_of "${entry%%:*}")
  must "$CLI" watch "${entry#*:}" >/dev/null
done

# The instructor: every group and every student.
ABLATE_TOKEN=$(token_of carol)
must "$CLI" class --json >"$work/class.json"
jq -e . "$work/class.json" >/dev/null || fail "class --json is not JSON"
[[ $(jq -r .class_name "$work/class.json") == cs101 ]] || fail "the view is not cs101's"
[[ $(jq .jobs "$work/class.json") == 6 ]] || fail "expected cs101's 6 jobs: $(jq .jobs "$work/class.json")"
[[ $(jq .runs "$work/class.json") == 17 ]] || fail "expected 17 ended runs"
group() { jq -c --arg l "$1" '.groups[] | select(.label == $l)' "$work/class.json"; }
uniform=$(group "uniform U[-0.5, 0.5]")
[[ -n "$uniform" ]] || fail "no group for lab 1's uniform: $(jq -c '[.groups[].label]' "$work/class.json")"
[[ $(jq '.runs | length' <<<"$uniform") == 4 && $(jq .diverged <<<"$uniform") == 4 ]] \
  || fail "lab 1's uniform group should hold 4 diverged runs: $uniform"
[[ $(jq .first_nonfinite_step.count <<<"$uniform") == 4 ]] || fail "the first-NaN distribution misses runs"
[[ $(group "uniform U[-0.1, 0.1]" | jq '.runs | length') == 1 ]] || fail "the wrong bounds are not a group of their own"
xavier=$(group xavier)
[[ $(jq '.runs | length' <<<"$xavier") == 7 ]] || fail "xavier should have 7 runs (s5's two)"
# The band: ordered quantiles at every point with a finite loss.
jq -e '[range(0; .steps | length) as $i | select(.count[$i] > 0)
        | (.low[$i] <= .median[$i] and .median[$i] <= .high[$i])] | all and length > 0' \
  <<<"$xavier" >/dev/null || fail "xavier's band is not low <= median <= high: $xavier"
jq -e '.final_loss.count == 7 and .val_accuracy.count == 7 and .final_loss.q10 <= .final_loss.q90' \
  <<<"$xavier" >/dev/null || fail "xavier's outcome distributions are wrong: $xavier"
[[ $(jq '.students | length' "$work/class.json") == 6 ]] || fail "the instructor should see 6 students"
flags_of() { jq -r --arg o "$1" '.students[] | select(.owner == $o) | .flags[]' "$work/class.json"; }
[[ $(flags_of s6) == *"did not diverge, while 4 of the class's 4 other uniform runs did"*"bounds"* ]] \
  || fail "s6's wrong-bounds uniform is not flagged: $(flags_of s6)"
[[ $(flags_of s5) == *"runs 0 and 1 have identical curves"* ]] || fail "s5's twin runs are not flagged"
[[ -z $(flags_of s1) ]] || fail "s1 is flagged for nothing: $(flags_of s1)"
# Run labels carry the seed and what differs from lab 1.
[[ $(jq -r '.students[] | select(.owner == "s6") | .runs[0].label' "$work/class.json") == \
   "uniform U[-0.1, 0.1] · seed 101 · steps 20 · eval every 10" ]] || fail "s6's run label is wrong"

# The table.
table=$(must "$CLI" class)
[[ $table == "class cs101: 6 jobs, 17 ended runs"* ]] || fail "the table's header is wrong: $table"
grep -q "^uniform U\[-0.5, 0.5\] *4 *4 " <<<"$table" || fail "the table lacks the uniform group: $table"
grep -q "! s6: uniform U\[-0.1, 0.1\]" <<<"$table" || fail "the table does not flag s6: $table"
[[ $(grep -c "^s[1-6] " <<<"$table") == 6 ]] || fail "the table lacks a student"

# A student: the groups, and only their own row.
ABLATE_TOKEN=$(token_of s2)
must "$CLI" class --json >"$work/s2.json"
[[ $(jq -c '[.students[].owner]' "$work/s2.json") == '["s2"]' ]] || fail "s2 sees other students' rows"
[[ $(jq '.groups | length' "$work/s2.json") == $(jq '.groups | length' "$work/class.json") ]] \
  || fail "s2 does not see the class's groups"
# Another class sees only itself.
ABLATE_TOKEN=$(token_of dan)
[[ $(must "$CLI" class --json | jq '[.jobs, (.groups | length), (.students | length)]' -c) == "[1,1,1]" ]] \
  || fail "dan's view is not cs102's one job"
# Filters and bad values: a value the server refuses is exit 2.
ABLATE_TOKEN=$(token_of carol)
[[ $(must "$CLI" class --name no-such-lab --json | jq .jobs) == 0 ]] || fail "--name does not filter"
[[ $(must "$CLI" class --name no-such-lab) == *"no ended runs yet"* ]] || fail "an empty view says nothing"
must_fail 2 "grid_points must be 0 (100) or between 10 and 1000 (got 5)" "$CLI" class --grid-points 5
[[ $(must "$CLI" class --grid-points 10 --json | jq '[.groups[].steps | length] | max') -le 10 ]] \
  || fail "--grid-points 10 gave more points"

# The report: figure, markdown and JSON.
must "$CLI" class --report "$work/report" >/dev/null 2>"$work/report.err"
for f in class.png class.md class.json; do
  [[ -s "$work/report/$f" ]] || fail "the report lacks $f"
  grep -qF "$work/report/$f" "$work/report.err" || fail "the report's paths do not name $f"
done
[[ $(head -c 8 "$work/report/class.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] \
  || fail "class.png is not a PNG"
grep -q "^# Class report — class cs101: 6 jobs, 17 ended runs" "$work/report/class.md" || fail "class.md has no title"
grep -q "!\[median training loss per group\](class.png)" "$work/report/class.md" || fail "class.md does not show the figure"
grep -q "^| uniform U\[-0.5, 0.5\] | 4 | 4 |" "$work/report/class.md" || fail "class.md lacks the groups"
grep -q "^| s6 | .*did not diverge" "$work/report/class.md" || fail "class.md does not flag s6"
[[ $(jq .jobs "$work/report/class.json") == 6 && $(jq -r '.figure_png' "$work/report/class.json") == "" ]] \
  || fail "class.json is not the view without the figure"

echo "e2e class view: all checks passed"
