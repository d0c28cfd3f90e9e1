#!/usr/bin/env bash
# CTest fixture for the client tests: installs the pinned `openai` package from the npm registry
# (npm ci, exactly package-lock.json) into tests/clients/node_modules, which is gitignored. Kept
# between runs: skipped while node_modules is newer than the lock file.
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.tokamak-npm-ci
if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ]; then
  echo "clients: node_modules up to date"
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
touch "$stamp"
