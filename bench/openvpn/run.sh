#!/usr/bin/env bash
# Tunnel TCP throughput through the stock openvpn 2.6 daemon (what every Aureo
# node runs for OpenVPN clients), next to the WireGuard figures of
# bench/wg/run.sh in the same invocation. Same topology as bench/wg: two
# network namespaces joined by a veth pair, iperf3 TCP from one to the other
# through the tunnel. The OpenVPN side is configured like a node: UDP,
# AES-256-GCM or CHACHA20-POLY1305 data channel, tls-crypt, P-256 certificates.
# Not a test: it asserts nothing. Needs root.
#
#   bench/openvpn/run.sh [-t SECONDS] [-P STREAMS] [-c CIPHER] [-r ROUNDS] [-b PATH/TO/aureo-wg]
set -euo pipefail
umask 077

SECONDS_PER_RUN=10
STREAMS=1
ROUNDS=1
CIPHER=AES-256-GCM
HERE="$(cd "$(dirname "$0")" && pwd)"
WG_BINARY="$HERE/../../build/bin/aureo-wg"
while getopts "t:P:c:r:b:" opt; do
  case $opt in
    t) SECONDS_PER_RUN=$OPTARG ;;
    P) STREAMS=$OPTARG ;;
    c) CIPHER=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    b) WG_BINARY=$OPTARG ;;
    *) echo "usage: $0 [-t SECONDS] [-P STREAMS] [-c AES-256-GCM|CHACHA20-POLY1305] [-r ROUNDS] [-b aureo-wg]" >&2; exit 2 ;;
  esac
done
for tool in ip openvpn openssl iperf3 python3; do
  command -v $tool >/dev/null || { echo "missing $tool" >&2; exit 2; }
done

TAG="ovpnb$$"
NS_A="${TAG}a"; NS_B="${TAG}b"
WORK=$(mktemp -d)
PIDS=()

teardown() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
  ip netns del "$NS_A" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
}
trap 'teardown; rm -rf "$WORK"' EXIT

# A P-256 CA, a server and a client certificate, and a tls-crypt key.
pki() {
  cd "$WORK"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=bench CA" -keyout ca.key -out ca.crt 2>/dev/null
  for who in server client; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$who" \
      -keyout $who.key -out $who.csr 2>/dev/null
    usage=$([ $who = server ] && echo serverAuth || echo clientAuth)
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=%s\n' \
      "$usage" >$who.ext
    openssl x509 -req -in $who.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile $who.ext -out $who.crt 2>/dev/null
  done
  openvpn --genkey tls-crypt tc.key >/dev/null
  cd - >/dev/null
}

measure_openvpn() {
  teardown
  ip netns add "$NS_A"; ip netns add "$NS_B"
  ip link add vA netns "$NS_A" type veth peer name vB netns "$NS_B"
  ip -n "$NS_A" addr add 192.168.242.1/24 dev vA
  ip -n "$NS_B" addr add 192.168.242.2/24 dev vB
  for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
  ip -n "$NS_A" link set vA up; ip -n "$NS_B" link set vB up
  common="--dev-type tun --tls-crypt $WORK/tc.key --ca $WORK/ca.crt --data-ciphers $CIPHER
          --tls-version-min 1.2 --verb 1 --proto udp"
  # shellcheck disable=SC2086
  ip netns exec "$NS_B" openvpn --mode server --tls-server --dev ovb0 --topology subnet \
    --server 10.242.0.0 255.255.255.0 --dh none --cert "$WORK/server.crt" --key "$WORK/server.key" \
    --local 192.168.242.2 --port 1194 --keepalive 10 60 $common >"$WORK/server.log" 2>&1 &
  PIDS+=($!)
  # shellcheck disable=SC2086
  ip netns exec "$NS_A" openvpn --client --dev ova0 --remote 192.168.242.2 1194 --nobind \
    --remote-cert-tls server --cert "$WORK/client.crt" --key "$WORK/client.key" $common \
    >"$WORK/client.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 200); do
    ip netns exec "$NS_A" ping -c1 -W1 10.242.0.1 >/dev/null 2>&1 && break
    sleep 0.1
  done
  ip netns exec "$NS_A" ping -c1 -W1 10.242.0.1 >/dev/null ||
    { echo "the OpenVPN tunnel did not come up" >&2; cat "$WORK/server.log" "$WORK/client.log" >&2; exit 1; }
  ip netns exec "$NS_B" iperf3 -s -1 </dev/null >/dev/null 2>&1 &
  PIDS+=($!)
  sleep 0.5
  ip netns exec "$NS_A" iperf3 -c 10.242.0.1 -t "$SECONDS_PER_RUN" -P "$STREAMS" -J >"$WORK/iperf.json"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.3f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))' "$WORK/iperf.json" >"$WORK/rate"
}

pki
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r), $(openvpn --version | head -1 | cut -d' ' -f1-2)"
echo "iperf3 TCP, ${SECONDS_PER_RUN}s, ${STREAMS} stream(s), ${ROUNDS} round(s), OpenVPN data cipher ${CIPHER}"
total=0
for round in $(seq "$ROUNDS"); do
  measure_openvpn; rate=$(cat "$WORK/rate")
  echo "round $round: openvpn ${rate} Gbit/s"
  total=$(python3 -c "print($total + $rate)")
done
teardown
openvpn_avg=$(python3 -c "print('%.3f' % ($total / $ROUNDS))")
echo "openvpn:      ${openvpn_avg} Gbit/s"
echo "--- WireGuard, same topology (bench/wg/run.sh) ---"
"$HERE/../wg/run.sh" -t "$SECONDS_PER_RUN" -P "$STREAMS" -r "$ROUNDS" -b "$WG_BINARY" | tee "$WORK/wg.txt"
aureo=$(sed -n 's/^aureo-wg: *\([0-9.]*\) Gbit\/s/\1/p' "$WORK/wg.txt")
go=$(sed -n 's/^wireguard-go: *\([0-9.]*\) Gbit\/s/\1/p' "$WORK/wg.txt")
python3 - "$openvpn_avg" "$aureo" "$go" <<'PY'
import sys
ovpn, aureo, go = (float(x) for x in sys.argv[1:])
print(f"aureo-wg / openvpn:     {aureo / ovpn:.2f}x" if ovpn > 0 else "n/a")
print(f"wireguard-go / openvpn: {go / ovpn:.2f}x" if ovpn > 0 else "n/a")
PY
