#!/bin/bash
# Entrypoint of ragomics/postgresql (images/postgresql/Dockerfile): the official image's contract
# in short. On the first start (no PG_VERSION in PGDATA): initdb with POSTGRES_USER as superuser
# and POSTGRES_PASSWORD, password (scram-sha-256) auth from any address, trust on the local
# socket (the healthcheck's pg_isready), and the database POSTGRES_DB (default: POSTGRES_USER),
# created in single-user mode (no server to start and stop). Then the server runs as PID 1 under
# the postgres user (setpriv execs it, no intermediate process), so `docker stop` reaches it.
# `docker run IMAGE CMD` with another command runs that instead.
set -euo pipefail

if [[ "${1:-}" != postgres ]]; then exec "$@"; fi
shift

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  if [[ -z "${POSTGRES_PASSWORD:-}" ]]; then
    echo "postgresql: POSTGRES_PASSWORD is not set; the database would accept no password login" >&2
    exit 1
  fi
  pwfile="$(mktemp)"
  printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
  chown postgres "$pwfile"
  as_postgres initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  if [[ "$POSTGRES_DB" != postgres ]]; then
    # Single-user mode reads commands from stdin; the identifier is quoted.
    echo "CREATE DATABASE \"${POSTGRES_DB//\"/\"\"}\"" | as_postgres postgres --single -D "$PGDATA" postgres >/dev/null
  fi
  echo "postgresql: initialised $PGDATA (superuser $POSTGRES_USER, database $POSTGRES_DB)" >&2
fi

exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" "$@"
