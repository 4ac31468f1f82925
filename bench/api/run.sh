#!/usr/bin/env bash
# bench/api: wrk against authenticated GET /api/v1/nodes (64 connections, 100
# nodes in the database) on aureo-gateway, next to a Go net/http reference doing
# the same work, in the same run. Then the same route while a login burst runs.
# Prints throughput, p50/p99 and the ratio. Not a test: never fails on speed.
#
#   bench/api/run.sh                          SQLite only
#   bench/api/run.sh --database postgres      also PostgreSQL, on a throwaway
#                                             cluster this script starts and stops
#   bench/api/run.sh --database postgres://user:pw@host:port/db
#                                             also PostgreSQL, on that (empty) database
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
PG_PORT=${PG_PORT:-25438}
pg_arg=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --database) pg_arg=${2:?--database needs postgres or a postgres:// URL}; shift 2 ;;
    *) echo "usage: $0 [--database postgres|postgres://...]" >&2; exit 2 ;;
  esac
done
case $pg_arg in
  "" | postgres | postgres://* | postgresql://*) ;;
  *) echo "--database takes postgres or a postgres:// URL" >&2; exit 2 ;;
esac
work=$(mktemp -d /tmp/aureo-bench-api.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -f $work/pg.state ]]; then tests/postgres/pg_cluster.sh stop "$work/pg.state" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target aureo-gateway >/dev/null
(cd bench/api/reference && GOCACHE=$work/gocache go build -o "$work/reference" main.go)

secret=$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n' | head -c 48)
cat > "$work/gw.toml" <<TOML
data_dir = "$work"
[database]
url = "sqlite:$work/aureo.db"
[auth]
jwt_secret = "$secret"
[admin]
email = "admin@bench.test"
[ratelimit]
ip_rate = 1000000
ip_burst = 1000000
account_rate = 1000000
account_burst = 1000000
auth_per_minute = 1000000
auth_burst = 1000000
login_per_minute = 1000000
TOML
./build/bin/aureo-gateway --config "$work/gw.toml" --listen 127.0.0.1:18080 >"$work/gw.out" 2>"$work/gw.log" &
pids+=($!)
for _ in $(seq 100); do grep -q "Aureo VPN API" "$work/gw.out" 2>/dev/null && break; sleep 0.2; done
admin_pw=$(sed -n 's/.*password: \(\S*\).*/\1/p' "$work/gw.out")
url=http://127.0.0.1:18080
token=$(curl -sf $url/api/v1/auth/login -d "{\"email\":\"admin@bench.test\",\"password\":\"$admin_pw\"}" | jq -r .access_token)
for i in $(seq 1 100); do
  curl -sf $url/api/v1/admin/nodes -H "Authorization: Bearer $token" \
    -d "{\"name\":\"node-$i\",\"public_ip\":\"198.51.100.$i\",\"country\":\"DE\",\"city\":\"Frankfurt\",\"protocols\":[\"wireguard\",\"openvpn\"]}" >/dev/null
done
curl -sf $url/api/v1/auth/register -d '{"email":"bench@bench.test","username":"bench","password":"bench password"}' >/dev/null
utoken=$(curl -sf $url/api/v1/auth/login -d '{"email":"bench@bench.test","password":"bench password"}' | jq -r .access_token)
curl -sf $url/api/v1/nodes -H "Authorization: Bearer $utoken" > "$work/nodes.json"
test "$(jq .total "$work/nodes.json")" = 100

"$work/reference" --listen 127.0.0.1:18081 --secret "$secret" --nodes "$work/nodes.json" 2>"$work/ref.log" &
pids+=($!)
sleep 0.5

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_wrk() {  # url [server pid] -> "rps p50 p99 non2xx cpu_us_per_request"
  local before=0 after=0
  [[ -n ${2:-} ]] && before=$(cpu_ticks "$2")
  wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -H "Authorization: Bearer $utoken" "$1" > "$work/wrk.out"
  [[ -n ${2:-} ]] && after=$(cpu_ticks "$2")
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
  p50=$(awk '$1=="50%" {print $2}' "$work/wrk.out")
  p99=$(awk '$1=="99%" {print $2}' "$work/wrk.out")
  non2xx=$(awk '/Non-2xx/ {print $5}' "$work/wrk.out")
  requests=$(awk '/requests in/ {print $1}' "$work/wrk.out")
  cpu=$(awk -v a="$before" -v b="$after" -v r="$requests" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { if (r > 0 && b > a) printf "%.1f", (b - a) / hz * 1e6 / r; else print "-" }')
  echo "$rps $p50 $p99 ${non2xx:-0} $cpu"
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else printf "%.3f", v*1000 }'; }

# ROUNDS alternating runs of the gateway and the reference; medians are
# reported, since the machine is shared. CPU per request is the server's own
# user+system time divided by the requests it answered: steadier than req/s
# when something else runs.
ROUNDS=${ROUNDS:-3}
a_rpss=() a_p50s=() a_p99s=() a_cpus=() g_rpss=() g_p50s=() g_p99s=() g_cpus=()
for _ in $(seq "$ROUNDS"); do
  read -r rps p50 p99 err cpu < <(run_wrk "$url/api/v1/nodes" "${pids[0]}")
  a_rpss+=("$rps") a_p50s+=("$(to_ms "$p50")") a_p99s+=("$(to_ms "$p99")") a_cpus+=("$cpu")
  a_err=$err
  read -r rps p50 p99 err cpu < <(run_wrk "http://127.0.0.1:18081/api/v1/nodes" "${pids[1]}")
  g_rpss+=("$rps") g_p50s+=("$(to_ms "$p50")") g_p99s+=("$(to_ms "$p99")") g_cpus+=("$cpu")
  g_err=$err
done
a_rps=$(median "${a_rpss[@]}") a_p50=$(median "${a_p50s[@]}")ms a_p99=$(median "${a_p99s[@]}")ms
g_rps=$(median "${g_rpss[@]}") g_p50=$(median "${g_p50s[@]}")ms g_p99=$(median "${g_p99s[@]}")ms
a_cpu=$(median "${a_cpus[@]}") g_cpu=$(median "${g_cpus[@]}")
# The same route with the node-list cache off: every request reads SQLite and encodes JSON.
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
AUREO_API_NODE_LIST_CACHE=0 ./build/bin/aureo-gateway --config "$work/gw.toml" --listen 127.0.0.1:18080 >"$work/gw2.out" 2>>"$work/gw.log" &
pids[0]=$!
for _ in $(seq 100); do grep -q "Aureo VPN API" "$work/gw2.out" 2>/dev/null && break; sleep 0.2; done
read -r u_rps u_p50 u_p99 u_err _ < <(run_wrk "$url/api/v1/nodes")
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
./build/bin/aureo-gateway --config "$work/gw.toml" --listen 127.0.0.1:18080 >"$work/gw3.out" 2>>"$work/gw.log" &
pids[0]=$!
for _ in $(seq 100); do grep -q "Aureo VPN API" "$work/gw3.out" 2>/dev/null && break; sleep 0.2; done

# A login burst on the side: argon2id logins from 32 connections while the node list is measured.
cat > "$work/login.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"email":"bench@bench.test","password":"bench password"}'
wrk.headers["Content-Type"] = "application/json"
LUA
wrk -t1 -c32 -d"$((DURATION + 2))s" -s "$work/login.lua" "$url/api/v1/auth/login" > "$work/login.out" &
burst=$!
sleep 1
read -r b_rps b_p50 b_p99 b_err _ < <(run_wrk "$url/api/v1/nodes")
wait $burst || true
logins=$(awk '/Requests\/sec/ {print $2}' "$work/login.out")

ratio=$(awk -v a="$a_rps" -v g="$g_rps" 'BEGIN { printf "%.2f", a/g }')
echo "bench/api  GET /api/v1/nodes (100 nodes, HS256 per request), $CONNS connections, ${DURATION}s, $(nproc) cores"
printf "  %-28s %10s req/s  p50 %8s ms  p99 %8s ms  non-2xx %s\n" "aureo-gateway (SQLite)" "$a_rps" "$(to_ms $a_p50)" "$(to_ms $a_p99)" "$a_err"
printf "  %-28s %10s req/s  p50 %8s ms  p99 %8s ms  non-2xx %s\n" "aureo-gateway, cache off" "$u_rps" "$(to_ms $u_p50)" "$(to_ms $u_p99)" "$u_err"
printf "  %-28s %10s req/s  p50 %8s ms  p99 %8s ms  non-2xx %s\n" "Go net/http reference" "$g_rps" "$(to_ms $g_p50)" "$(to_ms $g_p99)" "$g_err"
echo "  ratio aureo/reference: ${ratio}x (median of $ROUNDS alternating rounds; target >= 1.5x, p99 < 5 ms)"
cpu_ratio=$(awk -v a="$a_cpu" -v g="$g_cpu" 'BEGIN { if (a > 0) printf "%.2f", g/a; else print "-" }')
echo "  server CPU per request: aureo ${a_cpu} us, reference ${g_cpu} us (reference/aureo ${cpu_ratio}x)"
printf "  %-28s %10s req/s  p50 %8s ms  p99 %8s ms  (logins/s alongside: %s; target p99 < 50 ms)\n" \
  "during login burst" "$b_rps" "$(to_ms $b_p50)" "$(to_ms $b_p99)" "$logins"

[[ -n $pg_arg ]] || exit 0

# The same gateway on PostgreSQL: seeded the same way, measured with the
# node-list cache on and off (off: every request reads the database).
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
pg_url=$pg_arg
if [[ $pg_url == postgres ]]; then
  pg_url=$(tests/postgres/pg_cluster.sh start "$work/pg.state" "$PG_PORT")
fi
sed "s|^url = .*|url = \"$pg_url\"|" "$work/gw.toml" > "$work/gw-pg.toml"
start_pg_gateway() {  # extra env... ; waits until it listens
  env "$@" ./build/bin/aureo-gateway --config "$work/gw-pg.toml" --listen 127.0.0.1:18080 \
    >"$work/pg.out" 2>>"$work/gw-pg.log" &
  pids[0]=$!
  for _ in $(seq 100); do grep -q "Aureo VPN API" "$work/pg.out" 2>/dev/null && break; sleep 0.2; done
  grep -q "Aureo VPN API" "$work/pg.out" || { tail -5 "$work/gw-pg.log" >&2; exit 1; }
}
start_pg_gateway
cp "$work/pg.out" "$work/pg-first.out"
pg_admin_pw=$(sed -n 's/.*password: \(\S*\).*/\1/p' "$work/pg-first.out")
pg_token=$(curl -sf $url/api/v1/auth/login -d "{\"email\":\"admin@bench.test\",\"password\":\"$pg_admin_pw\"}" | jq -r .access_token)
for i in $(seq 1 100); do
  curl -sf $url/api/v1/admin/nodes -H "Authorization: Bearer $pg_token" \
    -d "{\"name\":\"node-$i\",\"public_ip\":\"198.51.100.$i\",\"country\":\"DE\",\"city\":\"Frankfurt\",\"protocols\":[\"wireguard\",\"openvpn\"]}" >/dev/null
done
curl -sf $url/api/v1/auth/register -d '{"email":"bench@bench.test","username":"bench","password":"bench password"}' >/dev/null
utoken=$(curl -sf $url/api/v1/auth/login -d '{"email":"bench@bench.test","password":"bench password"}' | jq -r .access_token)
test "$(curl -sf $url/api/v1/nodes -H "Authorization: Bearer $utoken" | jq .total)" = 100
read -r p_rps p_p50 p_p99 p_err _ < <(run_wrk "$url/api/v1/nodes")
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
start_pg_gateway AUREO_API_NODE_LIST_CACHE=0
read -r q_rps q_p50 q_p99 q_err _ < <(run_wrk "$url/api/v1/nodes")
echo "  on PostgreSQL 15 ($([[ $pg_arg == postgres ]] && echo "throwaway local cluster" || echo "given URL"), same gateway settings):"
printf "  %-28s %10s req/s  p50 %8s ms  p99 %8s ms  non-2xx %s\n" "aureo-gateway (PostgreSQL)" "$p_rps" "$(to_ms $p_p50)" "$(to_ms $p_p99)" "$p_err"
printf "  %-28s %10s req/s  p50 %8s ms  p99 %8s ms  non-2xx %s\n" "PostgreSQL, cache off" "$q_rps" "$(to_ms $q_p50)" "$(to_ms $q_p99)" "$q_err"
