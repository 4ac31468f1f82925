#!/usr/bin/env bash
# Starts or stops a private redis-server for the tests: loopback only, no
# persistence, its own folder. Stopped by the PID it wrote, never by name.
#   redis_server.sh start PORT DIR
#   redis_server.sh stop DIR
set -euo pipefail

action=${1:?usage: redis_server.sh start PORT DIR | stop DIR}
case "$action" in
  start)
    port=${2:?port}
    dir=${3:?dir}
    mkdir -p "$dir"
    if [[ -f "$dir/redis.pid" ]] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
      kill "$(cat "$dir/redis.pid")"
      while kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; do sleep 0.05; done
    fi
    rm -f "$dir/redis.pid"
    redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
      --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
      --daemonize yes
    for _ in $(seq 1 200); do
      # Ours answers, not some other server on the port: it wrote its pidfile.
      if [[ -f "$dir/redis.pid" ]] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null &&
        redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
        exit 0
      fi
      sleep 0.05
    done
    echo "redis-server did not answer on 127.0.0.1:$port" >&2
    cat "$dir/redis.log" >&2 || true
    exit 1
    ;;
  stop)
    dir=${2:?dir}
    [[ -f "$dir/redis.pid" ]] || exit 0
    pid=$(cat "$dir/redis.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do
      kill -0 "$pid" 2>/dev/null || exit 0
      sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    ;;
  *)
    echo "unknown action $action" >&2
    exit 2
    ;;
esac
