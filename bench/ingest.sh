#!/usr/bin/env bash
# Ingest figure: N messages of SIZE bytes over S concurrent sessions with postfix's smtp-source, the
# primary down (everything stays queued). Prints messages/s, server CPU µs per message, and the spool's
# commit/fsync counts. Loopback only; stops only the server it started.
#   bench/ingest.sh [MESSAGES] [SESSIONS] [SIZE]
set -euo pipefail
MESSAGES=${1:-20000}
SESSIONS=${2:-20}
SIZE=${3:-4096}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/target/release/backupmx"
command -v smtp-source >/dev/null || [ -x /usr/sbin/smtp-source ] || {
  echo "smtp-source missing: apt-get install -y postfix" >&2; exit 1; }
SMTP_SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)
[ -x "$BIN" ] || (cd "$ROOT" && cargo build --release)
WORK=$(mktemp -d)
PORT=$((20000 + RANDOM % 20000))
DEAD=$((PORT + 1))
cat > "$WORK/backupmx.toml" <<CONF
hostname = "mx2.bench.test"
[smtp]
listen = ["127.0.0.1:$PORT"]
max_connections = 1000
[spool]
dir = "$WORK/spool"
[admin]
listen = "127.0.0.1:$((PORT + 2))"
[queue]
retry = ["1h"]
probe_interval = "1h"
[[domain]]
name = "bench.test"
primary = "127.0.0.1:$DEAD"
CONF
RUST_LOG="warn,backupmx::daemon=info" "$BIN" serve --config "$WORK/backupmx.toml" 2> "$WORK/server.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
  sleep 0.1
done
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
TICK=$(getconf CLK_TCK)
C0=$(cpu_ticks)
T0=$(date +%s.%N)
timeout 600 "$SMTP_SOURCE" -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f sender@src.test -t user@bench.test \
  "127.0.0.1:$PORT"
T1=$(date +%s.%N)
C1=$(cpu_ticks)
kill -TERM $PID
wait $PID || true
python3 - "$MESSAGES" "$T0" "$T1" "$C0" "$C1" "$TICK" <<'PY'
import sys
n, t0, t1, c0, c1, tick = int(sys.argv[1]), *map(float, sys.argv[2:6]), int(sys.argv[6])
secs = t1 - t0
cpu = (c1 - c0) / tick
print(f"ingest: {n} messages in {secs:.2f} s = {n/secs:.0f} msg/s; server CPU {cpu*1e6/n:.0f} us/msg")
PY
grep -o 'commits=[0-9]* group_commits=[0-9]* fsyncs=[0-9]*' "$WORK/server.log" || tail -5 "$WORK/server.log"
find "$WORK/spool/journal" -name '*.log' -size +0 | head -1 >/dev/null
