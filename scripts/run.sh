#!/usr/bin/env bash
# Installs what Aureo needs, builds it, and starts the service on this machine
# with its embedded defaults: a SQLite database under ./data, an admin account
# created on first start (its password is printed once), the API URL printed.
# Extra arguments go to the server, e.g. --listen 0.0.0.0:8080.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh --runtime-only
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target aureo-gateway

mkdir -p data
chmod 700 data
exec ./build/bin/aureo-gateway --data-dir data --database "sqlite:data/aureo.db" "$@"
