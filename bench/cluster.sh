#!/usr/bin/env bash
# The cluster's shared queue (issue 13) side by side with the local spool and a private Postfix, same
# machine, loopback only, PostgreSQL on the same machine (fsync and synchronous_commit on, its defaults).
# Per round and kind (backupmx | backupmx-pg | postfix): ingest with the primary down, then the flush
# when it answers. Then, for the postgres backend: database transactions and round trips per message,
# the takeover after kill -9 of the node delivering (two nodes, the default 15 s lease), and the memory
# of one node with QUEUED messages in the cluster. Settings (environment):
#   ROUNDS=2 MESSAGES=20000 SESSIONS=20 SIZE=4096 QUEUED=100000 LEASE=15s
#   OUT=DIR (keep logs and results.tsv)  BIN=PATH (the binary to measure; default: a release build)
set -euo pipefail
ROUNDS=${ROUNDS:-2} MESSAGES=${MESSAGES:-20000} SESSIONS=${SESSIONS:-20} SIZE=${SIZE:-4096}
QUEUED=${QUEUED:-100000} LEASE=${LEASE:-15s}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LIB="$ROOT/bench/lib"
source "$LIB/servers.sh"
source "$LIB/common.sh"
source "$LIB/pg.sh"

[ -x /usr/sbin/smtp-source ] || {
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y postfix >&2
}
pg_install
bench_bin
bench_out
W= SRV_PID= SINK_PID= SECOND_PID= SECOND_W=
cleanup() {
  set +e
  sink_stop
  [ -n "$SECOND_PID" ] && kill -KILL "$SECOND_PID" 2>/dev/null
  [ -n "$SRV_PID" ] && [ -n "${KIND:-}" ] && srv_stop "$KIND"
  pg_stop
  [ -n "$W" ] && rm -rf "$W"
  [ -n "$SECOND_W" ] && rm -rf "$SECOND_W"
  [ -z "$KEEP_OUT" ] && rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

record() { printf '%s\t%s\t%s\t%s\n' "$KIND" "$ROUND" "$1" "$2" >> "$RES"; echo "  $KIND r$ROUND $1 = $2" >&2; }
cpu() { python3 "$LIB/proc.py" cpu "$SRV_PID"; }
rss_mib() { python3 "$LIB/proc.py" mem "$SRV_PID" | awk '{printf "%.1f", $1/1024}'; }
sink_start() { SINK_STATE="$W/sink.state"; python3 "$LIB/sink.py" "$SINKPORT" "$SINK_STATE" & SINK_PID=$!; wait_port "$SINKPORT" 10; }
sink_stop() { [ -n "${SINK_PID:-}" ] && { kill -TERM "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null; }; SINK_PID=; return 0; }
sink_field() { awk -v f="$1" '{print $f}' "$SINK_STATE"; }
wait_sink() { wait_at_least sink_field "$@"; }
load() { timeout 900 smtp-source -s "$SESSIONS" -m "$1" -l "$SIZE" -f sender@src.test -t user@bench.test "127.0.0.1:$2"; }
settle() {
  if [ "$KIND" = postfix ]; then
    for _ in $(seq 1200); do [ "$(pf_unsettled)" -eq 0 ] && break; sleep 0.1; done
  fi
  sleep 1
}
new_instance() {
  W=$(mktemp -d) PORT=$(python3 "$LIB/proc.py" freeport) SINKPORT=$(python3 "$LIB/proc.py" freeport)
  [ "$KIND" = backupmx-pg ] && pg_start
  srv_start "$KIND" "$PORT" "$SINKPORT"
}
end_instance() {
  sink_stop; srv_stop "$KIND"
  if [ "$KIND" = backupmx-pg ]; then
    # messages per group commit, from the node's last line
    local line; line=$(grep 'backupmx stopped' "$W/server.log" | tail -1)
    record note "node at stop: ${line#*backupmx stopped}"
    pg_stop
  fi
  rm -rf "$W"; W=
}

one_round() {
  new_instance; sleep 1
  local c0 t0 t1 c1 x0 x1 q
  c0=$(cpu); t0=$(now); [ "$KIND" = backupmx-pg ] && x0=$(pg_xacts)
  load "$MESSAGES" "$PORT" || echo "smtp-source failed" >&2
  t1=$(now); c1=$(cpu)
  record ingest_rate "$(calc "round($MESSAGES / ($t1 - $t0))")"
  record ingest_cpu "$(calc "round(($c1 - $c0) * 1e6 / $MESSAGES)")"
  if [ "$KIND" = backupmx-pg ]; then
    x1=$(pg_xacts)
    record ingest_db_xacts_per_msg "$(calc "round(($x1 - $x0) / $MESSAGES, 3)")"
  fi
  settle
  q=$(srv_queued "$KIND")
  c0=$(cpu); t0=$(now); sink_start
  if [ "$KIND" = postfix ]; then postqueue -c "$W/pfconf" -f; fi
  wait_sink "$q" 900 || record note "flush: only $(sink_field 1) of $q delivered"
  c1=$(cpu)
  local first last n; n=$(sink_field 1) first=$(sink_field 2) last=$(sink_field 3)
  record flush_rate "$(calc "round($n / max($last - $first, 1e-3))")"
  record flush_first "$(calc "round($first - $t0, 2)")"
  record flush_cpu "$(calc "round(($c1 - $c0) * 1e6 / max($n, 1))")"
  end_instance
}

# Two nodes share the queue; the one holding bench.test's lease is killed with SIGKILL while mail
# waits; the primary answers at once: seconds from the kill to the first delivery by the other node.
takeover() {
  KIND=backupmx-pg ROUND=x
  W=$(mktemp -d) PORT=$(python3 "$LIB/proc.py" freeport) SINKPORT=$(python3 "$LIB/proc.py" freeport)
  pg_start
  NODE=bench1 srv_start backupmx-pg "$PORT" "$SINKPORT"
  local first_pid=$SRV_PID first_w=$W
  SECOND_W=$(mktemp -d); W=$SECOND_W
  local port2; port2=$(python3 "$LIB/proc.py" freeport)
  NODE=bench2 srv_start backupmx-pg "$port2" "$SINKPORT"
  SECOND_PID=$SRV_PID
  W=$first_w SRV_PID=$first_pid
  load 2000 "$PORT" || true
  local owner=
  for _ in $(seq 200); do
    owner=$(pg_sql "SELECT node FROM leases WHERE destination = 'bench.test' AND expires_at >= now()")
    [ -n "$owner" ] && break; sleep 0.1
  done
  local victim=$SRV_PID survivor=$SECOND_PID
  [ "$owner" = bench2 ] && { victim=$SECOND_PID; survivor=$SRV_PID; }
  local t0; t0=$(now)
  kill -KILL "$victim"
  sink_start
  if wait_sink 1 120; then record takeover_first "$(calc "round($(sink_field 2) - $t0, 2)")"
  else record takeover_first ">120"; fi
  record note "takeover: killed $owner, lease $LEASE"
  sink_stop
  kill -TERM "$survivor" 2>/dev/null; wait "$survivor" 2>/dev/null || true
  wait "$victim" 2>/dev/null || true
  SRV_PID= SECOND_PID=
  pg_stop; rm -rf "$first_w" "$SECOND_W"; W= SECOND_W=
}

# One node, QUEUED messages in the shared queue (primary down): its memory.
big_queue() {
  KIND=backupmx-pg ROUND=x
  new_instance; sleep 1
  load "$QUEUED" "$PORT" || echo "smtp-source failed" >&2
  settle; sleep 3
  record note "bigq: $(pg_sql 'SELECT count(*) FROM messages') messages in the cluster"
  record mem_bigq_rss "$(rss_mib)"
  end_instance
}

echo "date: $(date -u +%FT%TZ) commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" \
  "load average: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/machine.txt"
for ROUND in $(seq "$ROUNDS"); do
  for KIND in backupmx backupmx-pg postfix; do echo "== round $ROUND: $KIND" >&2; one_round; done
done
takeover
[ "$QUEUED" -gt 0 ] && big_queue
KIND=
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
python3 "$LIB/stats.py" "$RES" | tee "$OUT/figures.txt"
