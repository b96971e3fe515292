#!/usr/bin/env bash
# The main job: starts ablate-server on its embedded SQLite default (./ablate-data), with the
# web page on http://127.0.0.1:8080/ (ABLATE_HTTP), unless a server already answers; submits
# lab 1 with `ablate lab`, watches it, downloads its deliverables into
# experiments/10-init-matters/, and leaves the server running.
#   deploy/run-lab.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
server_bin="$build/server/ablate-server"
cli="$build/client/ablate"
data_dir=./ablate-data
export ABLATE_SERVER=${ABLATE_SERVER:-127.0.0.1:50051}
http=${ABLATE_HTTP:-127.0.0.1:8080}

for bin in "$server_bin" "$cli"; do
  [[ -x "$bin" ]] || { echo "run-lab: $bin is missing: build first (see README.md)" >&2; exit 1; }
done

if "$cli" list --limit 1 >/dev/null 2>&1; then
  echo "run-lab: using the Ablate server already running at $ABLATE_SERVER"
else
  mkdir -p "$data_dir"
  nohup "$server_bin" --listen "$ABLATE_SERVER" --http "$http" --data-dir "$data_dir" \
    >>"$data_dir/server.log" 2>&1 </dev/null &
  echo $! >"$data_dir/server.pid"
  for _ in $(seq 1 100); do
    "$cli" list --limit 1 >/dev/null 2>&1 && break
    kill -0 "$(cat "$data_dir/server.pid")" 2>/dev/null || {
      echo "run-lab: ablate-server did not start; its log:" >&2
      tail -n 20 "$data_dir/server.log" >&2
      exit 1
    }
    sleep 0.1
  done
  echo "run-lab: started ablate-server at $ABLATE_SERVER, web page http://$http/ (pid $(cat "$data_dir/server.pid"), log $data_dir/server.log)"
fi

"$cli" lab --out experiments/10-init-matters

echo
echo "The server keeps running for further jobs and the web page (http://$http/). Stop it with:"
if [[ -f "$data_dir/server.pid" ]]; then
  echo "  kill \$(cat $data_dir/server.pid)"
else
  echo "  pkill -f ablate-server"
fi
