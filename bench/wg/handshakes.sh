#!/usr/bin/env bash
# Handshakes per second on one core (DESIGN.md section 12): builds and runs
# build/bin/wg_bench_handshakes, which pins itself to one CPU, runs
# `openssl speed ecdhx25519` on that CPU before and after as the reference,
# and prints responder and initiator handshakes/s against bound/4.
# Not a test: it asserts nothing. Needs no root.
#
#   bench/wg/handshakes.sh [-n HANDSHAKES] [-c CPU] [-s OPENSSL_SECONDS] [-p responder|initiator|both]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${BUILD:-$ROOT/build}"
command -v openssl >/dev/null || { echo "missing openssl" >&2; exit 2; }
[ -f "$BUILD/build.ninja" ] || cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$BUILD" wg_bench_handshakes >/dev/null
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "openssl: $(openssl version)"
"$BUILD/bin/wg_bench_handshakes" "$@"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
