#!/usr/bin/env bash
# Installs dependencies, builds everything with warnings as errors, and runs the
# whole test suite: unit tests, cross-process API tests, network-namespace interop
# tests and short fuzz runs. Exits non-zero if anything fails or no test ran.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
jobs=$(nproc)

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAUREO_WERROR=ON
cmake --build build -j "$jobs"

# Short fuzz runs use clang's libFuzzer with ASan/UBSan in a separate tree.
if [[ -z "${AUREO_SKIP_FUZZ:-}" ]] && grep -rq 'aureo_fuzzer(' src 2>/dev/null; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DAUREO_FUZZ=ON -DAUREO_BUILD_TESTS=OFF
  cmake --build build-fuzz -j "$jobs" --target fuzzers
fi

status=0
ctest --test-dir build --output-on-failure --no-tests=error -j "$jobs" --timeout 900 "$@" || status=1
if [[ -d build-fuzz ]]; then
  ctest --test-dir build-fuzz --output-on-failure --no-tests=error --timeout 300 || status=1
fi
exit $status
