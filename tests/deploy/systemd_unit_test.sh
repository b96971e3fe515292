#!/usr/bin/env bash
# deploy/ablate-server.service passes `systemd-analyze verify` (directives, sandboxing options,
# ExecStart), with ExecStart pointed at the built binary since the unit names the installed
# one. Without systemd-analyze: skipped, or under CI (CI=true) failed (tests/support/skip.sh).
#   systemd_unit_test.sh UNIT SERVER
set -euo pipefail
source "$(dirname "$0")/../support/skip.sh"
unit=$1
server=$2
if ! command -v systemd-analyze >/dev/null; then
  skip_missing_tool systemd-analyze "package systemd"
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s|/usr/local/bin/ablate-server|$server|" "$unit" >"$dir/ablate-server.service"
grep -q "^ExecStart=$server " "$dir/ablate-server.service" || { echo "FAIL: no ExecStart"; exit 1; }
# verify prints nothing and exits 0 for a unit without problems.
out=$(systemd-analyze verify "$dir/ablate-server.service" 2>&1) || { echo "FAIL: $out"; exit 1; }
[[ -z "$out" ]] || { echo "FAIL: systemd-analyze verify: $out"; exit 1; }
# The stop timeout must leave the drain its time, and SIGTERM must be the stop signal.
grep -qx "KillSignal=SIGTERM" "$unit" || { echo "FAIL: KillSignal is not SIGTERM"; exit 1; }
grep -qx "TimeoutStopSec=15" "$unit" || { echo "FAIL: TimeoutStopSec is not 15"; exit 1; }
echo "systemd unit: verified"
