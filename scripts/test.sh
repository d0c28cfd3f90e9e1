#!/usr/bin/env bash
# The test command: configure (warnings as errors), build, run every test but the `slow` label,
# then a short bounded libFuzzer run of the GGUF reader.
# Env: BUILD_DIR (default build), FUZZ_SECONDS (default 60; 0 skips fuzzing), CTEST_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
if [ -f "$BUILD_DIR/CMakeCache.txt" ]; then GEN=(); fi
cmake -S . -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DTK_WERROR=ON
cmake --build "$BUILD_DIR" -j"${JOBS:-2}"
ctest --test-dir "$BUILD_DIR" -LE slow --output-on-failure -j"${JOBS:-2}" ${CTEST_ARGS:-}
if [ "${FUZZ_SECONDS:-60}" != "0" ] && [ -x scripts/fuzz.sh ]; then
  FUZZ_SECONDS=${FUZZ_SECONDS:-60} scripts/fuzz.sh
fi
