#!/usr/bin/env bash
# bench/connect: connect time (median of 20) and the control plane with 1,000
# simulated nodes and 10,000 sessions. Not a test. Needs root. Extra arguments
# go to connect.py (e.g. --rounds 5 --nodes 100 --sessions 1000).
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target aureo-gateway aureo-control aureo-node >/dev/null
exec python3 bench/connect/connect.py --bin build/bin "$@"
