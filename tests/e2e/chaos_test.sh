#!/usr/bin/env bash
# kill -9 campaign: the server is killed at random moments while it trains, and restarted each
# time. Checks, over the whole campaign:
# - no committed step is lost or changed: after each kill (before the restart) the steps table
#   is snapshotted, and every snapshotted row must be in the final database, unchanged;
# - every job succeeds, no step is set aside (the same build must replay its own steps), and
#   PRAGMA integrity_check is ok after every kill;
# - every trajectory is bit for bit that of the same spec on a server that was never killed.
# Prints one summary line: cycles, committed steps checked, lost, changed, jobs failed, not
# identical, restart-to-health min/median/max ms, and the steps replayed at each restart.
#
# Usage: chaos_test.sh SERVER CLI [--cycles N] [--long-run] [--seed N]
#   default      3 jobs covering every init, 10 kills at random delays (ctest; about a minute)
#   --cycles N   N kills instead of 10 (--cycles 100: the long campaign, by hand)
#   --long-run   one 20,000-step run under a kill every 2 s, which must finish
SERVER=$1
CLI=$2
shift 2
cycles=""
long_run=0
seed=${CHAOS_SEED:-$((RANDOM * 32768 + RANDOM))}
while (($#)); do
  case $1 in
    --cycles) cycles=$2; shift 2 ;;
    --long-run) long_run=1; shift ;;
    --seed) seed=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
source "$(dirname "$0")/lib.sh"
export LC_ALL=C  # sort and comm agree on one order
RANDOM=$seed
echo "chaos: seed $seed (rerun with --seed $seed)"

db="$work/data/ablate.db"
sql() { sqlite3 -readonly -cmd ".timeout 5000" "${2:-$db}" "$1"; }
# Every committed step, keyed by run and step, reals printed exactly.
steps_table() {
  sql "SELECT run_id, step, printf('%!.17g', loss), loss_class, printf('%!.17g', weight_grad_norm),
              weight_grad_norm_class, printf('%!.17g', seconds) FROM steps ORDER BY run_id, step" \
    "${1:-$db}"
}
# What must be identical between two trainings of one spec: step, loss and gradient norm.
training_of() {
  sql "SELECT r.idx, s.step, printf('%!.17g', s.loss), s.loss_class,
              printf('%!.17g', s.weight_grad_norm), s.weight_grad_norm_class
       FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.job_id = $1 ORDER BY r.idx, s.step" \
    "${2:-$db}"
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Starts the server on the data directory and waits for its first SERVING health answer;
# sets last_ms to the milliseconds that took. Each start takes a free port of its own: the
# killed server's port is free for anyone meanwhile (another test's server, or the source port
# of any connection on the machine), and a server started on it by name would fail to bind.
last_ms=0
restart() {
  local t0 t1
  t0=$(now_ms)
  port=0
  start_server --checkpoint-every-seconds "$checkpoint_every"
  for _ in $(seq 1 500); do
    if [[ $("$CLI" health 2>/dev/null) == SERVING ]]; then
      t1=$(now_ms)
      last_ms=$((t1 - t0))
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited at start"
    sleep 0.01
  done
  fail "the server did not answer health checks within 5 s of listening"
}

if ((long_run)); then
  cycles=${cycles:-100000}  # until the run finishes
  checkpoint_every=1
  specs=("--name long --depth 6 --width 128 --input-dim 128 --steps 20000 --init kaiming")
  owners=(ada)
  interval_ms=(2000 2000)  # a kill every 2 s
else
  cycles=${cycles:-10}
  checkpoint_every=0.5
  # Long enough that every kill lands while the jobs train: 20,000 steps per 10 kills (on the
  # 2-core CI kind of machine, a kill cycle takes 1–2 s and these runs train at about 4,000
  # steps/s each).
  steps=$((20000 * (cycles > 10 ? cycles : 10) / 10))
  small="--depth 6 --width 128 --input-dim 128 --steps $steps --eval-every 100"
  specs=("--name chaos-a $small --init uniform --init xavier"
         "--name chaos-b $small --init kaiming --init xavier_uniform"
         "--name chaos-c $small --init kaiming_uniform --init orthogonal")
  owners=(ada bob cy)
  interval_ms=(200 1500)  # a random delay in this range before each kill
fi

start_server --checkpoint-every-seconds "$checkpoint_every"
jobs=()
for i in "${!specs[@]}"; do
  # shellcheck disable=SC2086  # the spec is a list of flags
  jobs+=("$(must "$CLI" submit --owner "${owners[$i]}" ${specs[$i]})")
done
echo "chaos: jobs ${jobs[*]}, $cycles kills, checkpoints every $checkpoint_every s"

all_ended() {
  [[ $(sql "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')") == 0 ]]
}

: >"$work/committed"
restart_ms=()
replayed=()
kills=0
for cycle in $(seq 1 "$cycles"); do
  lo=${interval_ms[0]} hi=${interval_ms[1]}
  delay=$((lo + RANDOM % (hi - lo + 1)))
  sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  if all_ended; then
    if ((long_run)); then break; fi
    echo "chaos: every job ended after $kills kills"
    break
  fi
  kill -KILL "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  kills=$((kills + 1))
  verdict=$(sql "PRAGMA integrity_check")
  [[ $verdict == ok ]] || fail "integrity_check after kill $cycle: $verdict"
  # What the kill left committed: each of these rows must survive unchanged.
  steps_table >"$work/snapshot"
  sort -u -o "$work/committed" "$work/committed" "$work/snapshot"
  seen=$(wc -l <"$work/server.log")
  restart
  restart_ms+=("$last_ms")
  # The steps each run replays, from the log of this start (its Recover runs before health).
  sleep 0.2
  k=$(tail -n +"$((seen + 1))" "$work/server.log" |
        { grep -o 'replaying [0-9]* steps' || true; } | awk '{s += $2} END {print s + 0}')
  replayed+=("$k")
done

# Every job to its end (a kill may still be in the way for a moment).
for job in "${jobs[@]}"; do
  for _ in $(seq 1 1200); do
    state=$(sql "SELECT state FROM jobs WHERE id = $job")
    [[ $state == queued || $state == running ]] || break
    sleep 0.25
  done
done
for job in "${jobs[@]}"; do
  must "$CLI" show "$job" --json >"$work/job.$job.json"
done
stop_server
[[ $(sql "PRAGMA integrity_check") == ok ]] || fail "integrity_check at the end"

steps_table | sort >"$work/final"
checked=$(wc -l <"$work/committed")
# A committed row missing from the final table was lost, or changed when its (run, step) is
# there with other values.
comm -23 "$work/committed" "$work/final" >"$work/missing"
cut -d'|' -f1,2 "$work/final" | sort -u >"$work/final.keys"
changed=$(cut -d'|' -f1,2 "$work/missing" | sort -u | comm -12 - "$work/final.keys" | wc -l)
lost=$(($(wc -l <"$work/missing") - changed))
set_aside=$(sql "SELECT count(*) FROM set_aside_steps")
failed=0
for job in "${jobs[@]}"; do
  state=$(sql "SELECT state FROM jobs WHERE id = $job")
  if [[ $state != succeeded ]]; then
    failed=$((failed + 1))
    echo "chaos: job $job is $state: $(sql "SELECT error FROM jobs WHERE id = $job")" >&2
  fi
done

# The same specs on a server that is never killed.
mv "$work/data" "$work/chaos"
mv "$work/server.log" "$work/chaos.log"
port=0
start_server --checkpoint-every-seconds "$checkpoint_every"
not_identical=0
for job in "${jobs[@]}"; do
  jq '.spec' "$work/job.$job.json" >"$work/spec.$job.json"
  fresh=$(must "$CLI" submit --owner "$(jq -r .owner "$work/job.$job.json")" \
    --spec "$work/spec.$job.json")
  must "$CLI" watch "$fresh" >/dev/null
  if ! cmp -s <(training_of "$job" "$work/chaos/ablate.db") <(training_of "$fresh"); then
    not_identical=$((not_identical + 1))
    echo "chaos: job $job differs from the same spec on a server never killed (job $fresh)" >&2
  fi
done
stop_server

sorted=$(printf '%s\n' "${restart_ms[@]}" | sort -n)
n=${#restart_ms[@]}
if ((n > 0)); then
  min=$(head -n 1 <<<"$sorted")
  max=$(tail -n 1 <<<"$sorted")
  median=$(sed -n "$(((n + 1) / 2))p" <<<"$sorted")
else
  min=- max=- median=-
fi
from_checkpoint=$(grep -c 'from a checkpoint, replaying' "$work/chaos.log" || true)
from_zero=$(grep -c 'resumed at step 0' "$work/chaos.log" || true)
total_replayed=0
for k in "${replayed[@]}"; do total_replayed=$((total_replayed + k)); done
echo "chaos summary: cycles $kills, committed steps checked $checked," \
  "lost $lost, changed $changed, set aside $set_aside, jobs failed $failed," \
  "not identical $not_identical, restart-to-health ms min/median/max $min/$median/$max," \
  "steps replayed per restart [${replayed[*]}] (total $total_replayed; run resumes from a" \
  "checkpoint $from_checkpoint, from step 0 $from_zero)"
((lost == 0 && changed == 0 && set_aside == 0 && failed == 0 && not_identical == 0)) \
  || fail "the campaign broke a promise (see the summary)"
((checked > 0)) || fail "no committed step was checked: the kills came too late"
# A campaign of one or two kills proves little: the jobs must outlast several.
((long_run || kills >= 3)) ||
  fail "only $kills kills landed before the jobs ended: lengthen the jobs (steps=$steps)"
((kills < 3 || from_checkpoint > 0)) || fail "no run resumed from a checkpoint in $kills kills"
echo "e2e chaos: all checks passed"
