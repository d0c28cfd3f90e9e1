#!/usr/bin/env bash
# The chat page's browser test (CTest webui_browser): installs playwright-core from
# package-lock.json with `npm ci` when node_modules is missing or stale, then runs
# webui_e2e.mjs against Debian's /usr/bin/chromium.
# Usage: tests/webui/run.sh TOKAMAK_BINARY MODEL.gguf OUT_DIR
set -euo pipefail
cd "$(dirname "$0")"
for tool in node npm /usr/bin/chromium; do
  command -v "$tool" >/dev/null || { echo "webui test: $tool not found (scripts/install-deps.sh)"; exit 1; }
done
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec node webui_e2e.mjs "$@"
