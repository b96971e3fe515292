#!/usr/bin/env bash
# Runs the browser tests: run.sh ABLATE_SERVER WEB_DIR OUT_DIR
#   ABLATE_SERVER  the ablate-server binary to start (on free ports, with a temporary data dir)
#   WEB_DIR        the assembled page (the build's web/dist)
#   OUT_DIR        where the screenshots go
# Installs playwright-core (npm ci, no browser download) when node_modules is missing or older
# than the lockfile; the browser is Debian's chromium ($ABLATE_CHROMIUM, default /usr/bin/chromium)
# and node is $ABLATE_NODE (default: node on the PATH). Without node, npm or chromium: skipped, or
# under CI (CI=true) failed (tests/support/skip.sh).
set -euo pipefail
cd "$(dirname "$0")"
source ../support/skip.sh
node=${ABLATE_NODE:-$(command -v node || echo node)}
[[ -x "$node" ]] || skip_missing_tool "node ($node)" "package nodejs"
command -v npm >/dev/null || skip_missing_tool npm "package npm"
chromium=${ABLATE_CHROMIUM:-/usr/bin/chromium}
[[ -x "$chromium" ]] || skip_missing_tool "chromium ($chromium)" "package chromium"
export ABLATE_CHROMIUM=$chromium
[[ -f "$2/index.html" ]] || { echo "FAIL: the web page is not assembled in $2 (npm ci failed?)" >&2; exit 1; }
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --prefer-offline
fi
mkdir -p "$3"
export ABLATE_SERVER="$1" ABLATE_WEB_DIR="$2" ABLATE_OUT_DIR="$3"
exec "$node" --test --test-concurrency=1 --test-reporter=spec unit.test.mjs page.test.mjs lab_options.test.mjs auth.test.mjs class.test.mjs
