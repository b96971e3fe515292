#!/usr/bin/env bash
# The page's benchmark (prints figures; not a test): bench.sh ABLATE_SERVER WEB_DIR
# Installs playwright-core (npm ci, no browser download) when node_modules is missing or stale.
set -euo pipefail
cd "$(dirname "$0")"
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --prefer-offline
fi
exec node bench.mjs "$1" "$2"
