#!/usr/bin/env bash
# Memory per idle peer with 100k peers configured (DESIGN.md section 12):
# builds and runs build/bin/wg_bench_memory, which prints the growth of VmRSS
# and of the live heap (mallinfo2) per peer next to the bare state a peer
# needs. Not a test: it asserts nothing. Needs no root.
#
#   bench/wg/memory.sh [-n PEERS] [-b]    (-b: split peers / allowed IPs)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${BUILD:-$ROOT/build}"
[ -f "$BUILD/build.ninja" ] || cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$BUILD" wg_bench_memory >/dev/null
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BUILD/bin/wg_bench_memory" "$@"
