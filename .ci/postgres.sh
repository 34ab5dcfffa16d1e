#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the store tests: `start DIR PORT` initialises and starts it in DIR (run as
# the unprivileged `postgres` user, trust auth on 127.0.0.1 only) and prints its SQLAlchemy URL; `stop DIR` stops it.
set -euo pipefail
cmd="${1:?usage: postgres.sh start DIR PORT | stop DIR}"
dir="${2:?usage: postgres.sh start DIR PORT | stop DIR}"
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
case "$cmd" in
  start)
    port="${3:?usage: postgres.sh start DIR PORT}"
    mkdir -p "$dir"
    chmod a+x "$(dirname "$dir")"  # the postgres user must be able to reach DIR (a mktemp parent is root-only)
    chown postgres:postgres "$dir"
    su postgres -s /bin/sh -c "'$bin/initdb' -D '$dir/data' -A trust -U postgres --no-sync" > "$dir/initdb.log"
    su postgres -s /bin/sh -c "'$bin/pg_ctl' -D '$dir/data' -w -l '$dir/server.log' \
      -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=off\" start" > /dev/null
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      su postgres -s /bin/sh -c "'$bin/pg_ctl' -D '$dir/data' -m fast -w stop" > /dev/null || true
    fi
    rm -rf "$dir"
    ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
