#!/usr/bin/env bash
# Where backupmx's CPU goes: perf (software cpu-clock event, works in VMs without PMU access) over the
# ingest (primary down) and the flush (sink up) of N messages. Prints the top symbols of each phase
# (self time) and keeps perf.data files in OUT.
#   OUT=/tmp/prof MESSAGES=10000 bench/profile.sh
set -euo pipefail
MESSAGES=${MESSAGES:-10000} SESSIONS=${SESSIONS:-20} SIZE=${SIZE:-4096}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LIB="$ROOT/bench/lib"
BIN="$ROOT/target/release/backupmx"
source "$LIB/servers.sh"
command -v perf >/dev/null || { echo "needs perf: apt-get install -y linux-perf" >&2; exit 1; }
(cd "$ROOT" && cargo build --release --quiet)
OUT=${OUT:-$(mktemp -d)}; mkdir -p "$OUT"
W=$(mktemp -d) PORT=$(python3 "$LIB/proc.py" freeport) SINKPORT=$(python3 "$LIB/proc.py" freeport)
SRV_PID= SINK_PID= PERF_PID=
cleanup() {
  set +e
  [ -n "$PERF_PID" ] && kill -INT "$PERF_PID" 2>/dev/null && wait "$PERF_PID"
  [ -n "$SINK_PID" ] && kill -TERM "$SINK_PID" 2>/dev/null && wait "$SINK_PID"
  bmx_stop; rm -rf "$W"
}
trap cleanup EXIT
perf_on() { perf record -e cpu-clock -F 997 --call-graph dwarf,16384 -p "$SRV_PID" -o "$OUT/$1.data" 2>/dev/null & PERF_PID=$!; sleep 1; }
perf_off() { kill -INT "$PERF_PID"; wait "$PERF_PID" || true; PERF_PID=; }
report() {
  echo "== $1: top symbols by self time"
  perf report -i "$OUT/$1.data" --no-children --sort symbol --stdio -g none --percent-limit 1.5 2>/dev/null |
    grep -v '^#' | grep -v '^$' | head -30
  echo "== $1: by shared object"
  perf report -i "$OUT/$1.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -8
}
srv_start backupmx "$PORT" "$SINKPORT"
perf_on ingest
timeout 600 smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f sender@src.test -t user@bench.test "127.0.0.1:$PORT"
perf_off
sleep 1
perf_on flush
python3 "$LIB/sink.py" "$SINKPORT" "$W/sink.state" & SINK_PID=$!
for _ in $(seq 1200); do [ "$(cut -d' ' -f1 "$W/sink.state" 2>/dev/null || echo 0)" -ge "$MESSAGES" ] && break; sleep 0.25; done
perf_off
report ingest
report flush
