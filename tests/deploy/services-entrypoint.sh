#!/bin/sh
# The entrypoint of tests/deploy/services.Dockerfile: behave like the official postgres, redis and nginx images
# for what compose.yaml asks of them.
set -eu
case "${1:-postgres}" in
postgres)
    bin=/usr/lib/postgresql/15/bin
    data=/var/lib/postgresql/data
    mkdir -p "$data" /var/run/postgresql
    chown postgres:postgres "$data" /var/run/postgresql
    chmod 700 "$data"
    if [ ! -s "$data/PG_VERSION" ]; then
        # The password goes through a file, never through argv (where `ps` would show it).
        pwfile=$(mktemp)
        printf '%s' "${POSTGRES_PASSWORD:?}" >"$pwfile"
        chown postgres "$pwfile"
        runuser -u postgres -- "$bin/initdb" -D "$data" -U "${POSTGRES_USER:?}" --pwfile="$pwfile" \
            -A scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
        rm -f "$pwfile"
        echo "host all all 0.0.0.0/0 scram-sha-256" >>"$data/pg_hba.conf"
        echo "CREATE DATABASE \"${POSTGRES_DB:?}\" OWNER \"$POSTGRES_USER\"" |
            runuser -u postgres -- "$bin/postgres" --single -D "$data" -j postgres >/dev/null
    fi
    exec runuser -u postgres -- "$bin/postgres" -D "$data" -c listen_addresses='*' \
        -c unix_socket_directories=/var/run/postgresql
    ;;
redis-server)
    # The official image turns protected mode off when no configuration file is given; without that, Redis
    # refuses clients from other containers.
    exec "$@" --protected-mode no
    ;;
*)
    exec "$@"
    ;;
esac
