#!/bin/sh
# What the official postgres image's entrypoint does that the project relies on: on the first
# start, a cluster whose superuser is POSTGRES_USER (password POSTGRES_PASSWORD) with the database
# POSTGRES_DB, reachable over TCP with a password; then the server, as the postgres user.
set -eu
if [ "${1:-}" = postgres ]; then
  mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    user=${POSTGRES_USER:-postgres}
    printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" > /tmp/pwfile
    chown postgres /tmp/pwfile
    setpriv --reuid=postgres --regid=postgres --init-groups \
      initdb -D "$PGDATA" --username="$user" --pwfile=/tmp/pwfile --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f /tmp/pwfile
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    db=${POSTGRES_DB:-$user}
    if [ "$db" != postgres ]; then
      echo "CREATE DATABASE \"$db\"" | setpriv --reuid=postgres --regid=postgres --init-groups \
        postgres --single -D "$PGDATA" -j postgres >/dev/null
    fi
  fi
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$@" -c listen_addresses='*'
fi
exec "$@"
