#!/usr/bin/env bash
# The one list of Debian packages tokamak needs to build and test. Idempotent; run as root
# (or with sudo available) on Debian 12.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  clang libclang-rt-14-dev           # libFuzzer target and sanitizers
  googletest libgtest-dev libgmock-dev
  nlohmann-json3-dev libcli11-dev
  libboost-dev curl                  # server: Beast + Asio headers; curl for docs/server.md examples
  python3
  python3-torch python3-numpy        # PyTorch reference forward pass (tests/model/torch_ref.py)
  python3-jinja2                     # chat-template oracle (scripts/render_template.py)
  nodejs npm                         # openai npm client tests (tests/clients), npm ci at test time
  chromium                           # chat page test in headless Chromium (tests/webui)
  nginx                              # replicas behind nginx test (tests/deploy)
  libcurl4-openssl-dev               # formats/hub: hf:// model download
)

missing=()
for p in "${PACKAGES[@]}"; do
  # A Node.js that bundles npm (e.g. NodeSource's) conflicts with Debian's npm package.
  if [ "$p" = npm ] && command -v npm >/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
