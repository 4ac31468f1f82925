#!/usr/bin/env bash
# Installs what Aureo needs, builds it, and starts the all-in-one server on
# this machine with its embedded defaults: the API gateway, the control plane
# and a local VPN node in one process, a SQLite database under ./data, an
# admin account created on first start (its password is printed once), the
# API URL printed. Without root (CAP_NET_ADMIN) the local VPN node is
# disabled and the API is still served.
# Extra arguments go to the server, e.g. --listen 0.0.0.0:8080.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh --runtime-only
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target aureo-server

mkdir -p data
chmod 700 data
exec ./build/bin/aureo-server --data-dir data --database "sqlite:data/aureo.db" "$@"
