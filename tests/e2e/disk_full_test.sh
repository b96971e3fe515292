#!/usr/bin/env bash
# A real full disk: the data directory on a small tmpfs that a job fills. The server says so,
# refuses new jobs, keeps answering reads, stops cleanly, and leaves a sound database; once the
# file system has room again, a restart resumes or keeps every job as recorded. Needs root and
# a kernel that lets it mount tmpfs; skipped otherwise (a capability the machine may lack, even
# under CI).
SERVER=$1
CLI=$2
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../support/skip.sh"

mnt="$work/mnt"
mkdir "$mnt"
if [[ $(id -u) != 0 ]]; then
  skip_capability "not running as root, so it cannot mount the tmpfs it fills"
fi
if ! mount -t tmpfs -o size=3m tmpfs "$mnt" 2>/dev/null; then
  skip_capability "mounting a tmpfs is not permitted here (a container without CAP_SYS_ADMIN?)"
fi
trap 'cleanup_mount' EXIT
cleanup_mount() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  umount "$mnt" 2>/dev/null || true
  rm -rf "$work"
}

data_dir="$mnt/data"
tiny=(--width 8 --depth 2 --input-dim 8 --label-dims 4 --train-size 64 --val-size 16 --batch 8)
start_server
job=$(must "$CLI" submit --name fills-the-disk "${tiny[@]}" --steps 100000 --eval-every 100000 \
  --init kaiming)
for _ in $(seq 1 300); do
  grep -q "the database is full" "$work/server.log" && break
  sleep 0.1
done
grep -q "the database is full" "$work/server.log" || fail "the server did not report a full disk"
sleep 0.5  # the job's end is tried once more
must_fail 1 "the data directory is full" "$CLI" submit "${tiny[@]}" --steps 10 --init kaiming
state=$(job_field "$job" .state)
run_state=$(job_field "$job" '.runs[0].state')
[[ $state == JOB_STATE_FAILED || $state == JOB_STATE_RUNNING ]] || fail "the job is $state"
recorded=$(job_field "$job" '.runs[0].steps_done')
((recorded > 0 && recorded < 100000)) || fail "the job recorded $recorded steps"
must "$CLI" list >/dev/null
must "$CLI" trajectory "$(job_field "$job" '.runs[0].id')" --csv >/dev/null
stop_server
[[ $(sqlite3 "$data_dir/ablate.db" "PRAGMA integrity_check") == ok ]] || fail "integrity_check"
echo "full disk: job $state with $recorded steps; submits refused; reads served"

# Room again. A job that could not record its end is decided at the restart from its runs: a
# run whose failure was recorded (the last steps fill the disk to its last page, and a run's end
# may still fit where the job's does not) fails the job with that reason; a run with no end
# recorded resumes and completes.
mount -o remount,size=64m "$mnt"
start_server
if [[ $state == JOB_STATE_RUNNING ]]; then
  "$CLI" watch "$job" >/dev/null 2>&1 || true
  if [[ $run_state == RUN_STATE_FAILED ]]; then
    [[ $(job_field "$job" .state) == JOB_STATE_FAILED ]] || fail "the job of a failed run did not fail"
    [[ $(job_field "$job" .error) == *"the database is full"* ]] ||
      fail "the job's failure does not say the disk was full: $(job_field "$job" .error)"
  else
    [[ $(job_field "$job" .state) == JOB_STATE_SUCCEEDED ]] || fail "the resumed job did not finish"
  fi
fi
must "$CLI" watch "$(must "$CLI" submit "${tiny[@]}" --steps 50 --init kaiming)" >/dev/null
echo "e2e disk full: all checks passed"
