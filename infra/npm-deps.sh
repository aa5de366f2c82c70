#!/bin/sh
# Installs the npm dependencies when node_modules is missing or older than the
# lock file. Plain sh on purpose: it runs before any TypeScript can.
set -eu
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null 2>&1; then
  echo "berth: npm is not installed; install Node.js 20 or newer (https://nodejs.org) and run again" >&2
  exit 1
fi
stamp=node_modules/.package-lock.json
if [ -f "$stamp" ] && [ ! package-lock.json -nt "$stamp" ] && [ -x node_modules/.bin/tsx ]; then
  exit 0
fi
echo "berth: installing npm dependencies (npm ci)..." >&2
npm ci --no-audit --no-fund --loglevel=error >&2
