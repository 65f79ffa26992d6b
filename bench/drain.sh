#!/usr/bin/env bash
# Drain benchmark (issue 14): MESSAGES queued to K mailboxes with the primary down, then the primary
# starts and the queue drains into it; backupmx (own recovery detection) and Postfix (`postqueue -f`)
# side by side, alternating, in the same run. Loopback only; stops only the processes it started.
#   PRIMARIES="nagle nodelay"  which primaries (each a scenario):
#       nagle    bench/lib/primary.py: one send() per reply, Nagle on (the issue's primary)
#       nodelay  the same with TCP_NODELAY
#       nagle-chunking / nodelay-chunking   the same, also offering CHUNKING (BDAT)
#       sink     Postfix's smtp-sink (one write per group of pipelined replies)
#   MAILBOXES="7 1"   mailboxes per scenario (messages round robin over box0..box{K-1}@bench.test)
#   MESSAGES=3000 SIZE=2048 ROUNDS=1   the load, and rounds (A B A B ...)
#   DELAY_MS=0        >0: a relay (lib/relay.py) in front of the primary holds each direction's
#                     bytes DELAY_MS (20 ms RTT with DELAY_MS=10)
#   BMX_QUEUE=""      extra lines for backupmx's [queue] section (e.g. "max_parallel = 20")
#   BIN=target/release/backupmx   the binary (built with cargo build --release when it is the default)
#   CAPTURE=0         1: tcpdump the first 4,000 packets of backupmx's drain (to OUT/capture-*.txt)
#   DRAIN_CAP=300     seconds to wait for a drain before reporting it incomplete
#   OUT=DIR           keep results.tsv and the captures there (default: a temp dir, removed)
set -euo pipefail
PRIMARIES=${PRIMARIES:-nagle nodelay} MAILBOXES=${MAILBOXES:-7 1}
MESSAGES=${MESSAGES:-3000} SIZE=${SIZE:-2048} ROUNDS=${ROUNDS:-1} DELAY_MS=${DELAY_MS:-0}
CAPTURE=${CAPTURE:-0} DRAIN_CAP=${DRAIN_CAP:-300} BMX_QUEUE=${BMX_QUEUE:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LIB="$ROOT/bench/lib"
source "$LIB/servers.sh"
source "$LIB/common.sh"
bench_bin
if ! [ -x /usr/sbin/postfix ] || ! [ -x /usr/sbin/smtp-sink ]; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y postfix >&2
fi
if [ "$CAPTURE" = 1 ] && ! command -v tcpdump >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y tcpdump >&2
fi

bench_out
W= SRV_PID= PRIM_PID= RELAY_PID= CAP_PID=
stop_pid() { [ -n "$1" ] || return 0; kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
primary_stop() { stop_pid "$RELAY_PID"; RELAY_PID=; stop_pid "$PRIM_PID"; PRIM_PID=; stop_pid "$CAP_PID"; CAP_PID=; }
cleanup() {
  set +e
  primary_stop
  [ -n "$SRV_PID" ] && srv_stop "$KIND"
  [ -n "$W" ] && rm -rf "$W"
  [ -z "$KEEP_OUT" ] && rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

record() { printf '%s\t%s\t%s\t%s\t%s\n' "$SCEN" "$KIND" "$ROUND" "$1" "$2" >> "$RES"; echo "  $SCEN $KIND r$ROUND $1 = $2" >&2; }
field() { awk -v f="$1" '{print $f}' "$W/primary.state" 2>/dev/null || echo 0; }  # 1 count 2 first 3 last 4 disorder 5 sessions 6 max concurrent

primary_start() { # KIND PORT: the primary on PORT (behind the relay when DELAY_MS > 0)
  local kind=$1 port=$2 pport=$2
  [ "$DELAY_MS" != 0 ] && pport=$(python3 "$LIB/proc.py" freeport)
  case "$kind" in
    sink) python3 "$LIB/sink.py" "$pport" "$W/primary.state" & PRIM_PID=$! ;;
    *) local flags=()
       case "$kind" in nodelay*) flags+=(--nodelay) ;; esac
       case "$kind" in *-chunking) flags+=(--chunking) ;; esac
       python3 "$LIB/primary.py" "$pport" "$W/primary.state" "${flags[@]}" & PRIM_PID=$! ;;
  esac
  if [ "$DELAY_MS" != 0 ]; then
    wait_port "$pport" 10
    python3 "$LIB/relay.py" "$port" "$pport" "$DELAY_MS" & RELAY_PID=$!
  fi
}

wait_count() { wait_at_least field "$@"; } # COUNT SECONDS

one_drain() { # primary kind in $PRIM, mailboxes in $K
  W=$(mktemp -d) PORT=$(python3 "$LIB/proc.py" freeport) SINKPORT=$(python3 "$LIB/proc.py" freeport)
  if [ "$KIND" = backupmx ]; then
    bmx_config "$PORT" "$SINKPORT" "$(python3 "$LIB/proc.py" freeport)"
    [ -n "$BMX_QUEUE" ] && sed -i "s/^probe_interval = .*/&\n${BMX_QUEUE//$'\n'/\\n}/" "$W/backupmx.toml"
  fi
  srv_start "$KIND" "$PORT" "$SINKPORT"
  python3 "$LIB/load.py" "$PORT" "$MESSAGES" "$K" "$SIZE" >&2 || record note "load incomplete"
  if [ "$KIND" = postfix ]; then
    for _ in $(seq 1200); do [ "$(pf_unsettled)" -eq 0 ] && break; sleep 0.1; done
  else
    for _ in $(seq 300); do [ "$(srv_queued backupmx)" -ge "$MESSAGES" ] && break; sleep 0.1; done
  fi
  sleep 1
  local q; q=$(srv_queued "$KIND")
  if [ "$CAPTURE" = 1 ] && [ "$KIND" = backupmx ]; then
    timeout 30 tcpdump -i lo -nn -tt -c 4000 "tcp port $SINKPORT" > "$OUT/capture-${SCEN//\//-}.txt" 2>/dev/null &
    CAP_PID=$!; sleep 1
  fi
  local t0; t0=$(now)
  primary_start "$PRIM" "$SINKPORT"
  if [ "$KIND" = postfix ]; then wait_port "$SINKPORT" 10; postqueue -c "$W/pfconf" -f; fi
  wait_count "$q" "$DRAIN_CAP" || record note "drained only $(field 1) of $q"
  sleep 0.3
  local n first last; n=$(field 1) first=$(field 2) last=$(field 3)
  record delivered "$n"
  record span "$(calc "round($last - $first, 2)")"
  record from_start "$(calc "round($last - $t0, 2)")"
  record rate "$(calc "round($n / max($last - $first, 1e-3))")"
  if [ "$PRIM" != sink ]; then
    record out_of_order "$(field 4)"; record sessions "$(field 5)"; record max_concurrent "$(field 6)"
  fi
  primary_stop
  srv_stop "$KIND"
  rm -rf "$W"; W=
}

echo "date: $(date -u +%FT%TZ) commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" \
  "load average: $(cut -d' ' -f1-3 /proc/loadavg) messages=$MESSAGES size=$SIZE delay_ms=$DELAY_MS" \
  "bmx_queue='$BMX_QUEUE'" | tee "$OUT/machine.txt"
for PRIM in $PRIMARIES; do
  for K in $MAILBOXES; do
    SCEN="$PRIM/$K"
    for ROUND in $(seq "$ROUNDS"); do
      each_kind "$SCEN round $ROUND" one_drain
    done
  done
done
KIND=
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
python3 "$LIB/drain_stats.py" "$RES" | tee "$OUT/figures.txt"
