#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of Aureo VPN from Debian 12
# packages. Idempotent: packages already present are left alone.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: run as root (it calls apt-get)" >&2
  exit 1
fi

build_packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev libboost-url1.81-dev
  libssl-dev libsodium-dev libsqlite3-dev sqlite3
  libsoci-dev libpq-dev libpqxx-dev libhiredis-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev prometheus-cpp-dev
  libtomlplusplus-dev libcli11-dev libqrencode-dev libnftables-dev zlib1g-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  clang-14 libclang-rt-14-dev clang-format clang-tidy
)
runtime_packages=(
  iproute2 nftables ca-certificates openssl
)
test_packages=(
  wireguard-go wireguard-tools iperf3 openvpn tcpdump iputils-ping
  prometheus wrk golang-go postgresql redis-server
  curl jq python3 python3-yaml procps psmisc zbar-tools
)

# --runtime-only: what building and running needs, without test peers and tools.
want=("${build_packages[@]}" "${runtime_packages[@]}")
if [[ "${1:-}" != "--runtime-only" ]]; then
  want+=("${test_packages[@]}")
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#want[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"

# Debian starts these services on install; tests start their own instances on
# loopback and the all-in-one run needs neither, so keep the system ones quiet.
for svc in postgresql redis-server; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
    systemctl disable "$svc" >/dev/null 2>&1 || true
  fi
done
echo "install-deps: done"
