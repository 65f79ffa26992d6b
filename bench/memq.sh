#!/usr/bin/env bash
# Memory with a big queue and the cost of flushing it, for backupmx alone (no Postfix): the figures
# that stay stable on a shared machine (RSS, syscalls and CPU per message), not rates.
#   bench/memq.sh                      100,000 messages with the primary down; RSS after receiving them,
#                                      after a restart; then the flush: syscalls per message (strace -c -f)
#                                      and server CPU per message.
#   QUEUED=20000 STRACE=0 bench/memq.sh    smaller queue, flush without strace
# Settings: QUEUED (100000), SESSIONS (20), SIZE (4096), RESTART (1), FLUSH (1), STRACE (1), BIN, OUT,
# BEFORE_FLUSH / AFTER_FLUSH (commands run with the server's PID around the flush).
# Only processes this script started are signalled (by PID); the work directory is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
LIB=$PWD/bench/lib
BIN=${BIN:-$PWD/target/release/backupmx}
QUEUED=${QUEUED:-100000} SESSIONS=${SESSIONS:-20} SIZE=${SIZE:-4096}
RESTART=${RESTART:-1} FLUSH=${FLUSH:-1} STRACE=${STRACE:-1}
W=$(mktemp -d) SRV_PID= SINK_PID= TRACE_PID=
OUT=${OUT:-$W}
cleanup() {
  [ -n "$TRACE_PID" ] && kill -INT "$TRACE_PID" 2>/dev/null || true
  [ -n "$SINK_PID" ] && kill -TERM "$SINK_PID" 2>/dev/null || true
  stop_server
  rm -rf "$W"
}
trap cleanup EXIT
source "$LIB/servers.sh"
freeport() { python3 "$LIB/proc.py" freeport; }
PORT=$(freeport) SINKPORT=$(freeport)
bmx_config "$PORT" "$SINKPORT" "$(freeport)"
start_server() {
  bmx_start "$PORT" "$SINKPORT"
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "server did not start" >&2; exit 1
}
stop_server() { bmx_stop; }
rss_mib() { ps -o rss= -p "$SRV_PID" | awk '{printf "%.1f", $1 / 1024}'; }
cpu_s() { python3 "$LIB/proc.py" cpu "$SRV_PID"; }
delivered() { grep -c ' delivered' "$W/server.log" || true; }

start_server
sleep 1
echo "idle RSS: $(rss_mib) MiB"
t0=$(date +%s.%N)
timeout 1800 smtp-source -s "$SESSIONS" -m "$QUEUED" -l "$SIZE" -f sender@src.test -t user@bench.test \
  "127.0.0.1:$PORT"
t1=$(date +%s.%N)
sleep 2
echo "queued=$QUEUED ingest_s=$(echo "$t1 - $t0" | bc) RSS after receiving: $(rss_mib) MiB"
if [ "$RESTART" = 1 ]; then
  stop_server; r0=$(date +%s.%N); start_server; r1=$(date +%s.%N); rc=$(cpu_s); sleep 2
  echo "restart to accepting: $(echo "$r1 - $r0" | bc) s (server CPU $rc s); RSS after a restart: $(rss_mib) MiB"
fi
if [ "$FLUSH" = 1 ]; then
  base=$(delivered)
  if [ "$STRACE" = 1 ]; then
    strace -c -f -o "$OUT/flush.strace" -p "$SRV_PID" & TRACE_PID=$!
    sleep 1
  fi
  # e.g. BEFORE_FLUSH="callgrind_control -i on" with BIN a wrapper running valgrind --collect-atstart=no
  [ -n "${BEFORE_FLUSH:-}" ] && $BEFORE_FLUSH "$SRV_PID"
  c0=$(cpu_s); f0=$(date +%s.%N)
  python3 "$LIB/sink.py" "$SINKPORT" "$W/sink.state" & SINK_PID=$!
  for _ in $(seq 18000); do
    [ "$(($(delivered) - base))" -ge "$QUEUED" ] && break
    sleep 0.1
  done
  f1=$(date +%s.%N); c1=$(cpu_s)
  [ -n "${AFTER_FLUSH:-}" ] && $AFTER_FLUSH "$SRV_PID"
  n=$(($(delivered) - base))
  [ -n "$TRACE_PID" ] && { kill -INT "$TRACE_PID"; wait "$TRACE_PID" || true; TRACE_PID=; }
  kill -TERM "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null || true; SINK_PID=
  read -r _ first last < "$W/sink.state"
  echo "flushed=$n flush_s=$(echo "$f1 - $f0" | bc) first_to_last_s=$(echo "$last - $first" | bc)" \
    "drain_msg_per_s=$(echo "$n / ($last - $first)" | bc) cpu_us_per_msg=$(echo "($c1 - $c0) * 1000000 / $n" | bc)"
  if [ "$STRACE" = 1 ]; then
    awk -v n="$n" '$NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ && $4 / n >= 0.05 {
      printf "  %-14s %6.2f/msg\n", $NF, $4 / n }' "$OUT/flush.strace"
  fi
fi
