#!/bin/sh
# First start: initdb with POSTGRES_USER as superuser (password POSTGRES_PASSWORD, SCRAM over
# the network, trust only on the container's own Unix socket), then create POSTGRES_DB.
# Every start: run the server in the foreground as PID 1.
set -eu

user="${POSTGRES_USER:-postgres}"
db="${POSTGRES_DB:-${user}}"
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
export PGDATA

if [ "${1:-}" = "postgres" ] && [ ! -s "${PGDATA}/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "postgres: POSTGRES_PASSWORD is empty: set PARLEY_DB_PASSWORD in .env" >&2
    exit 1
  fi
  pwfile="$(mktemp)"
  printf '%s\n' "${POSTGRES_PASSWORD}" >"${pwfile}"
  initdb --username="${user}" --pwfile="${pwfile}" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "${pwfile}"
  echo "host all all all scram-sha-256" >>"${PGDATA}/pg_hba.conf"
  pg_ctl -D "${PGDATA}" -o "-c listen_addresses=''" -w start >/dev/null
  if [ "${db}" != "postgres" ]; then
    psql -v ON_ERROR_STOP=1 --username="${user}" --dbname=postgres -q \
      -c "CREATE DATABASE \"${db}\""
  fi
  pg_ctl -D "${PGDATA}" -m fast -w stop >/dev/null
  echo "postgres: initialised ${PGDATA}, database ${db}, superuser ${user}"
fi

if [ "${1:-}" = "postgres" ]; then
  shift
  exec postgres -c listen_addresses='*' "$@"
fi
exec "$@"
