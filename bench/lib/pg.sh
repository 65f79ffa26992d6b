# A throwaway PostgreSQL for bench/cluster.sh: Debian's server run as the postgres user on a private
# data directory and loopback port, the schema applied with `backupmx db migrate`, stopped by its
# data directory (pg_ctl), removed after. Sourced after LIB and BIN are set.

pg_install() {
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && return 0
  echo "installing postgresql (Debian's package; the cluster is not started system-wide)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
}

pg_start() { # sets PG_DIR PG_PORT PG_URL; the database "bench" with the current schema
  local bin; bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  PG_BIN=$bin PG_DIR=$(mktemp -d) PG_PORT=$(python3 "$LIB/proc.py" freeport)
  chmod 755 "$PG_DIR"; chown postgres "$PG_DIR"
  runuser -u postgres -- "$bin/initdb" -D "$PG_DIR/data" -A trust -U backupmx >/dev/null
  runuser -u postgres -- "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
  psql "postgres://backupmx@127.0.0.1:$PG_PORT/postgres" -qAtc "CREATE DATABASE bench" >/dev/null
  PG_URL="postgres://backupmx@127.0.0.1:$PG_PORT/bench"
  "$BIN" db migrate --url "$PG_URL" >/dev/null
}

pg_stop() {
  [ -n "${PG_DIR:-}" ] || return 0
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"; PG_DIR=
}

pg_sql() { psql "$PG_URL" -qAtc "$1"; }

# Transactions committed in the bench database so far (every node's, the heartbeats' included).
pg_xacts() { pg_sql "SELECT xact_commit FROM pg_stat_database WHERE datname = 'bench'"; }
