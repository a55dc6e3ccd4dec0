#!/usr/bin/env bash
# Start (or stop) a private PostgreSQL and Redis for the test suite: `scripts/servers.sh start DIR` prints the
# environment (QYZMET_TEST_POSTGRES, QYZMET_TEST_REDIS) to eval; `scripts/servers.sh stop DIR` stops both.
# PostgreSQL 15 is taken from /usr/lib/postgresql/15/bin (installed with apt when missing); initdb refuses to
# run as root, so the cluster belongs to the `postgres` user. Redis is installed with apt when missing.
set -euo pipefail
action=${1:?usage: servers.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: servers.sh start|stop DIR}")
pg_bin=${QYZMET_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
apt_install() {
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "servers.sh: $1 is missing; install it (apt-get install $1)" >&2; exit 1
    fi
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null
}

case $action in
start)
    # Private ports, free ones unless given: a developer's own servers or a second run do not collide.
    pg_port=${QYZMET_TEST_PG_PORT:-$(free_port)}
    redis_port=${QYZMET_TEST_REDIS_PORT:-$(free_port)}
    if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
        apt_install postgresql >&2
        pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    fi
    command -v redis-server >/dev/null || apt_install redis-server >&2
    mkdir -p "$dir"
    pgdata=$dir/pg
    if [ ! -f "$pgdata/PG_VERSION" ]; then
        rm -rf "$pgdata" && mkdir -p "$pgdata"
        [ "$(id -u)" = 0 ] && chown postgres "$dir" "$pgdata"
        chmod 700 "$pgdata"
        as_postgres "$pg_bin/initdb" -D "$pgdata" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
    fi
    as_postgres "$pg_bin/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w -o \
        "-p $pg_port -k $pgdata -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
        start >/dev/null
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null
    echo "export QYZMET_TEST_POSTGRES=postgresql://postgres@127.0.0.1:$pg_port/postgres"
    echo "export QYZMET_TEST_REDIS=redis://127.0.0.1:$redis_port/0"
    ;;
stop)
    [ -f "$dir/pg/postmaster.pid" ] && as_postgres "$pg_bin/pg_ctl" -D "$dir/pg" -m immediate -w stop >/dev/null || true
    [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
    ;;
*) echo "usage: servers.sh start|stop DIR" >&2; exit 2 ;;
esac
