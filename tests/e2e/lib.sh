# Helpers for end-to-end tests: a real ablate-server on 127.0.0.1 with a temporary data
# directory, stopped when the test exits. Source it; then call start_server.
#   SERVER, CLI: paths of the binaries (set by the caller)
set -euo pipefail

work=$(mktemp -d)
server_pid=""
port=0
data_dir="$work/data"  # start_server's --data-dir
server_args=()         # more flags for start_server
server_prefix=()       # a command that runs the server, e.g. (setpriv --reuid=65534 ...)

cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  if [[ -f "$work/server.log" ]]; then
    echo "--- server log ---" >&2
    tail -n 40 "$work/server.log" >&2
  fi
  exit 1
}

# Starts the server on $port (0: a free one, which is then read from its log), with any further
# flags given.
start_server() {
  # Only this server's lines count: an earlier one on the same port logged the same words.
  local seen=0
  if [[ -f "$work/server.log" ]]; then seen=$(wc -l <"$work/server.log"); fi
  "${server_prefix[@]}" "$SERVER" --listen "127.0.0.1:$port" --data-dir "$data_dir" --workers 2 \
    "${server_args[@]}" "$@" >>"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    local line
    line=$(tail -n +"$((seen + 1))" "$work/server.log" | grep -o 'listening on 127.0.0.1:[0-9]*' |
      tail -n 1 || true)
    if [[ -n "$line" ]] && { [[ "$port" == 0 ]] || [[ "$line" == *":$port" ]]; }; then
      port=${line##*:}
      export ABLATE_SERVER="127.0.0.1:$port"
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited at start"
    sleep 0.1
  done
  fail "the server did not start listening"
}

# Stops the server as an operator would (SIGTERM) and waits for it to exit.
stop_server() {
  kill -TERM "$server_pid"
  wait "$server_pid" || fail "the server exited with an error on SIGTERM"
  server_pid=""
}

# Runs a command that must succeed; prints its stdout.
must() { "$@" || fail "command failed: $*"; }

# Runs a command that must fail with exit code $1 and a stderr containing $2.
must_fail() {
  local code=$1 text=$2
  shift 2
  local out rc=0
  out=$("$@" 2>&1 >/dev/null) || rc=$?
  [[ $rc == "$code" ]] || fail "expected exit $code from '$*', got $rc: $out"
  [[ "$out" == *"$text"* ]] || fail "expected '$text' in the error of '$*', got: $out"
  [[ $(wc -l <<<"$out") == 1 ]] || fail "expected one error line from '$*', got: $out"
}

# A JSON field of the job, read with jq.
job_field() { must "$CLI" show "$1" --json | jq -r "$2"; }
