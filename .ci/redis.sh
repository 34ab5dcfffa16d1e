#!/usr/bin/env bash
# A throwaway Redis for the monitor tests: `start DIR PORT` runs redis-server on 127.0.0.1:PORT with its data in DIR
# (append-only file on, no snapshots) and prints its URL; `stop DIR` shuts it down and removes DIR.
set -euo pipefail
cmd="${1:?usage: redis.sh start DIR PORT | stop DIR}"
dir="${2:?usage: redis.sh start DIR PORT | stop DIR}"
case "$cmd" in
  start)
    port="${3:?usage: redis.sh start DIR PORT}"
    mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" --appendonly yes \
      --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    for _ in $(seq 1 50); do
      if redis-cli -p "$port" ping > /dev/null 2>&1; then
        echo "redis://127.0.0.1:$port/0"
        exit 0
      fi
      sleep 0.1
    done
    echo "redis-server did not answer on port $port; see $dir/redis.log" >&2
    exit 1
    ;;
  stop)
    if [ -f "$dir/redis.pid" ]; then
      kill "$(cat "$dir/redis.pid")" 2> /dev/null || true
      sleep 0.2
    fi
    rm -rf "$dir"
    ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
