#!/usr/bin/env bash
# Flush figure: queue N messages (SIZE bytes, S sessions) with the primary down, then start postfix's
# smtp-sink as the primary and measure the lag to the first and the last delivery, and the drain rate.
#   bench/flush.sh [MESSAGES] [SESSIONS] [SIZE]
set -euo pipefail
MESSAGES=${1:-20000}
SESSIONS=${2:-20}
SIZE=${3:-4096}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/target/release/backupmx"
SMTP_SOURCE=$(command -v smtp-source || echo /usr/sbin/smtp-source)
SMTP_SINK=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
[ -x "$SMTP_SOURCE" ] && [ -x "$SMTP_SINK" ] || { echo "needs postfix's smtp-source/smtp-sink: apt-get install -y postfix" >&2; exit 1; }
[ -x "$BIN" ] || (cd "$ROOT" && cargo build --release)
WORK=$(mktemp -d)
PORT=$((20000 + RANDOM % 20000))
SINK=$((PORT + 1))
cat > "$WORK/backupmx.toml" <<CONF
hostname = "mx2.bench.test"
[smtp]
listen = ["127.0.0.1:$PORT"]
[spool]
dir = "$WORK/spool"
[admin]
listen = "127.0.0.1:$((PORT + 2))"
[queue]
probe_interval = "2s"
[[domain]]
name = "bench.test"
primary = "127.0.0.1:$SINK"
CONF
"$BIN" serve --config "$WORK/backupmx.toml" 2> "$WORK/server.log" &
PID=$!
SINK_PID=
trap 'kill $PID 2>/dev/null || true; [ -n "$SINK_PID" ] && kill $SINK_PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
timeout 600 "$SMTP_SOURCE" -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f sender@src.test -t user@bench.test \
  "127.0.0.1:$PORT"
sleep 1
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
C0=$(cpu_ticks)
START=$(date +%s.%N)
"$SMTP_SINK" -u "$(id -un)" 127.0.0.1:$SINK 256 &
SINK_PID=$!
# Wait until every message is logged as delivered (bounded).
for _ in $(seq 1200); do
  N=$(grep -c ' delivered' "$WORK/server.log" || true)
  [ "$N" -ge "$MESSAGES" ] && break
  sleep 0.25
done
C1=$(cpu_ticks)
python3 - "$WORK/server.log" "$START" "$MESSAGES" "$C0" "$C1" "$(getconf CLK_TCK)" <<'PY'
import sys, datetime
log, start, n, c0, c1, tick = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
times = []
for line in open(log, errors="replace"):
    if " delivered" in line:
        ts = line.split()[0].rstrip("Z")
        times.append(datetime.datetime.fromisoformat(ts).replace(tzinfo=datetime.timezone.utc).timestamp())
if not times:
    sys.exit("nothing delivered")
first, last = min(times), max(times)
print(f"flush: {len(times)}/{n} delivered; lag to first {first-start:.2f} s, to last {last-start:.2f} s; "
      f"drain {len(times)/max(last-first,1e-9):.0f} msg/s; server CPU {(c1-c0)/tick*1e6/len(times):.0f} us/msg")
PY
