#!/usr/bin/env bash
# Tunnel TCP throughput (DESIGN.md section 12): two network namespaces joined
# by a veth pair, iperf3 TCP through the tunnel, with aureo-wg on both ends
# and then wireguard-go on both ends, in the same run. Prints both rates and
# the ratio. Not a test: it asserts nothing. Needs root.
#
#   bench/wg/run.sh [-t SECONDS] [-P STREAMS] [-b PATH/TO/aureo-wg] [-r ROUNDS]
set -euo pipefail
umask 077

SECONDS_PER_RUN=10
STREAMS=1
ROUNDS=1
BINARY="$(cd "$(dirname "$0")/../.." && pwd)/build/bin/aureo-wg"
while getopts "t:P:b:r:" opt; do
  case $opt in
    t) SECONDS_PER_RUN=$OPTARG ;;
    P) STREAMS=$OPTARG ;;
    b) BINARY=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    *) echo "usage: $0 [-t SECONDS] [-P STREAMS] [-b aureo-wg] [-r ROUNDS]" >&2; exit 2 ;;
  esac
done
[ -x "$BINARY" ] || { echo "no aureo-wg at $BINARY (build it: ninja -C build aureo-wg)" >&2; exit 2; }
for tool in ip wg wireguard-go iperf3 python3; do
  command -v $tool >/dev/null || { echo "missing $tool" >&2; exit 2; }
done

TAG="wgb$$"
NS_A="${TAG}a"; NS_B="${TAG}b"
IF_A="${TAG}x"; IF_B="${TAG}y"
WORK=$(mktemp -d)
PIDS=()

teardown() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
  ip netns del "$NS_A" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
  rm -f "/var/run/wireguard/$IF_A.sock" "/var/run/wireguard/$IF_B.sock"
}
trap 'teardown; rm -rf "$WORK"' EXIT

start_daemon() {  # impl ns ifname
  if [ "$1" = aureo-wg ]; then
    ip netns exec "$2" "$BINARY" -f "$3" >/dev/null 2>"$WORK/$3.log" &
  else
    ip netns exec "$2" wireguard-go -f "$3" >"$WORK/$3.log" 2>&1 &
  fi
  PIDS+=($!)
  for _ in $(seq 100); do [ -S "/var/run/wireguard/$3.sock" ] && return; sleep 0.05; done
  echo "$1 did not start on $3" >&2; cat "$WORK/$3.log" >&2; exit 1
}

# Writes the receiver's rate in Gbit/s to $WORK/rate. Runs in this shell
# (not in $(...)), so PIDS stays accurate for teardown.
measure() {  # impl
  teardown
  ip netns add "$NS_A"; ip netns add "$NS_B"
  ip link add vA netns "$NS_A" type veth peer name vB netns "$NS_B"
  ip -n "$NS_A" addr add 192.168.241.1/24 dev vA
  ip -n "$NS_B" addr add 192.168.241.2/24 dev vB
  for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
  ip -n "$NS_A" link set vA up; ip -n "$NS_B" link set vB up
  wg genkey >"$WORK/a.key"; wg genkey >"$WORK/b.key"
  start_daemon "$1" "$NS_A" "$IF_A"
  start_daemon "$1" "$NS_B" "$IF_B"
  ip netns exec "$NS_A" wg set "$IF_A" private-key "$WORK/a.key" listen-port 51820 \
    peer "$(wg pubkey <"$WORK/b.key")" endpoint 192.168.241.2:51820 allowed-ips 10.241.0.2/32
  ip netns exec "$NS_B" wg set "$IF_B" private-key "$WORK/b.key" listen-port 51820 \
    peer "$(wg pubkey <"$WORK/a.key")" endpoint 192.168.241.1:51820 allowed-ips 10.241.0.1/32
  ip -n "$NS_A" addr add 10.241.0.1/24 dev "$IF_A"; ip -n "$NS_A" link set "$IF_A" up
  ip -n "$NS_B" addr add 10.241.0.2/24 dev "$IF_B"; ip -n "$NS_B" link set "$IF_B" up
  for _ in $(seq 50); do
    ip netns exec "$NS_A" ping -c1 -W1 10.241.0.2 >/dev/null 2>&1 && break
  done
  ip netns exec "$NS_B" iperf3 -s -1 </dev/null >/dev/null 2>&1 &
  PIDS+=($!)
  sleep 0.5
  ip netns exec "$NS_A" iperf3 -c 10.241.0.2 -t "$SECONDS_PER_RUN" -P "$STREAMS" -J >"$WORK/iperf.json"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.3f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))' "$WORK/iperf.json" >"$WORK/rate"
}

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
echo "iperf3 TCP, ${SECONDS_PER_RUN}s, ${STREAMS} stream(s), ${ROUNDS} round(s)"
go_total=0; aureo_total=0
for round in $(seq "$ROUNDS"); do
  measure wireguard-go; go=$(cat "$WORK/rate")
  measure aureo-wg; aureo=$(cat "$WORK/rate")
  echo "round $round: wireguard-go ${go} Gbit/s, aureo-wg ${aureo} Gbit/s"
  go_total=$(python3 -c "print($go_total + $go)")
  aureo_total=$(python3 -c "print($aureo_total + $aureo)")
done
python3 - "$go_total" "$aureo_total" "$ROUNDS" <<'PY'
import sys
go, aureo, rounds = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
print(f"wireguard-go: {go / rounds:.3f} Gbit/s")
print(f"aureo-wg:     {aureo / rounds:.3f} Gbit/s")
print(f"ratio:        {aureo / go:.2f}x" if go > 0 else "ratio: n/a")
PY
