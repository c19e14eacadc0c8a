#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests, on a Unix socket only (no TCP port is opened), its data
# in a temporary folder named after this checkout (under /tmp: when run as root the server runs
# as the `postgres` user, which may not be able to enter the checkout). Debian's server binaries.
#   bash scripts/pg.sh start [DB]   prints the SQLAlchemy URL of database DB (default tos_test),
#                                   creating it if needed
#   bash scripts/pg.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "tos-guard pg: no PostgreSQL server (apt-get install postgresql)" >&2; exit 1; }
dir="${TMPDIR:-/tmp}/tos-guard-pg-$(printf %s "$PWD" | sha256sum | cut -c1-12)"
as=()
[ "$(id -u)" -eq 0 ] && as=(runuser -u postgres --)
case "${1:-}" in
  start)
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      rm -rf "$dir"; mkdir -p "$dir"
      [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
      "${as[@]}" "$bin/initdb" -D "$dir/data" -U tos --auth=trust -E UTF8 >/dev/null
    fi
    if ! "${as[@]}" "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-k $dir -c listen_addresses=''" start >/dev/null \
        || { echo "tos-guard pg: the server did not start; its log:" >&2; cat "$dir/log" >&2; exit 1; }
    fi
    db="${2:-tos_test}"
    "${as[@]}" "$bin/psql" -h "$dir" -U tos -d postgres -qtAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 \
      || "${as[@]}" "$bin/createdb" -h "$dir" -U tos "$db"
    echo "postgresql+psycopg2://tos@/$db?host=$dir"
    ;;
  stop)
    [ -f "$dir/data/postmaster.pid" ] && "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    ;;
  *) echo "usage: bash scripts/pg.sh start|stop" >&2; exit 2 ;;
esac
