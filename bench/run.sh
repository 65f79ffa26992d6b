#!/usr/bin/env bash
# backupmx vs a private Postfix backup MX, same machine, loopback only, same load, alternating A B A B.
# Prints one line per figure: "<figure>: backupmx X unit | postfix Y unit | ratio Z" (medians over
# rounds) with the spread. See bench/README.md. Settings (environment):
#   ROUNDS=2 MESSAGES=20000 SESSIONS=20 SIZE=4096   the load (smtp-source -s SESSIONS -m MESSAGES -l SIZE)
#   QUEUED=100000      messages queued for the memory/restart extra (0 = skip; rounds' N is always used)
#   CONNS=10000        idle connections for backupmx; PF_CONNS=1000 for Postfix (its smtpd process limit)
#   BIG_BYTES=50000000 the large message (0 = skip)
#   LAG_CAP=60         seconds to wait for Postfix's default recovery before reporting "> LAG_CAP"
#   OUT=DIR            keep logs and results.tsv there (default: a temp dir, removed at the end)
#   BIN=PATH           the backupmx binary to measure (default: build target/release/backupmx)
set -euo pipefail
ROUNDS=${ROUNDS:-2} MESSAGES=${MESSAGES:-20000} SESSIONS=${SESSIONS:-20} SIZE=${SIZE:-4096}
QUEUED=${QUEUED:-100000} CONNS=${CONNS:-10000} PF_CONNS=${PF_CONNS:-1000}
BIG_BYTES=${BIG_BYTES:-50000000} LAG_CAP=${LAG_CAP:-60}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LIB="$ROOT/bench/lib"
source "$LIB/servers.sh"
source "$LIB/common.sh"

install_postfix() {
  [ -x /usr/sbin/smtp-source ] && [ -x /usr/sbin/smtp-sink ] && [ -x /usr/sbin/postfix ] && return 0
  echo "installing postfix (no configuration; it is not started system-wide)" >&2
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y postfix >&2
}
install_postfix
bench_bin  # BIN=PATH: measure that binary instead of building this tree's

bench_out
W= SRV_PID= SINK_PID= IDLE_PID= SAMPLER_PID=
cleanup() {
  set +e
  [ -n "$IDLE_PID" ] && kill "$IDLE_PID" 2>/dev/null
  [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null
  sink_stop
  [ -n "$SRV_PID" ] && [ -n "${KIND:-}" ] && srv_stop "$KIND"
  [ -n "$W" ] && rm -rf "$W"
  [ -z "$KEEP_OUT" ] && rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

record() { printf '%s\t%s\t%s\t%s\n' "$KIND" "$ROUND" "$1" "$2" >> "$RES"; echo "  $KIND r$ROUND $1 = $2" >&2; }
cpu() { python3 "$LIB/proc.py" cpu "$SRV_PID"; }
pss_mib() { python3 "$LIB/proc.py" mem "$SRV_PID" | awk '{printf "%.1f", $2/1024}'; }
record_mem() { # KEY: PSS as KEY, summed RSS as KEY_rss
  local m; m=$(python3 "$LIB/proc.py" mem "$SRV_PID")
  record "$1" "$(echo "$m" | awk '{printf "%.1f", $2/1024}')"
  record "$1_rss" "$(echo "$m" | awk '{printf "%.1f", $1/1024}')"
}

sink_start() { SINK_STATE="$W/sink.state"; python3 "$LIB/sink.py" "$SINKPORT" "$SINK_STATE" & SINK_PID=$!; wait_port "$SINKPORT" 10; }
sink_stop() { [ -n "${SINK_PID:-}" ] && { kill -TERM "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null; }; SINK_PID=; return 0; }
sink_field() { awk -v f="$1" '{print $f}' "$SINK_STATE"; }  # 1 count, 2 first, 3 last
wait_sink() { wait_at_least sink_field "$@"; } # COUNT SECONDS: until the sink has COUNT messages; returns 1 on timeout
sampler_start() { rm -f "$W/stop"; python3 "$LIB/proc.py" sample "$SRV_PID" "$W/stop" > "$W/sample" & SAMPLER_PID=$!; }
sampler_stop() { # sets SAMPLE_MIB (not a $(...) function: wait needs the sampler to be our child)
  touch "$W/stop"; wait "$SAMPLER_PID" || true; SAMPLER_PID=
  SAMPLE_MIB=$(awk '{printf "%.1f", $2/1024}' "$W/sample")
  SAMPLE_RSS_MIB=$(awk '{printf "%.1f", $1/1024}' "$W/sample")
}
load() { timeout 900 smtp-source -s "$SESSIONS" -m "$1" -l "$SIZE" -f sender@src.test -t user@bench.test "127.0.0.1:$PORT"; }

new_instance() { # fresh work dir and ports, server started with the primary down
  W=$(mktemp -d) PORT=$(python3 "$LIB/proc.py" freeport) SINKPORT=$(python3 "$LIB/proc.py" freeport)
  srv_start "$KIND" "$PORT" "$SINKPORT" "${1:-}"
}
end_instance() { sink_stop; srv_stop "$KIND"; rm -rf "$W"; W=; }

settle() { # after ingest with the primary down: Postfix has tried and deferred everything
  if [ "$KIND" = postfix ]; then
    for _ in $(seq 1200); do [ "$(pf_unsettled)" -eq 0 ] && break; sleep 0.1; done
  fi
  sleep 1
}

restart_timed() { # stop, start, time until one message is accepted: sets RESTART_S (and SRV_PID)
  srv_stop "$KIND"
  local t0; t0=$(now)
  if [ "$KIND" = backupmx ]; then bmx_start "$PORT" "$SINKPORT"; else pf_start "$PORT" "$SINKPORT"; fi
  RESTART_S=$(python3 "$LIB/smtpsend.py" accept "$PORT" "$t0" "$(calc "$t0 + 120")")
}

one_round() {
  new_instance
  sleep 1; record_mem mem_idle
  # 1. ingest with the primary down
  local c0 t0 t1 c1 q
  sampler_start; c0=$(cpu); t0=$(now)
  load "$MESSAGES" || echo "smtp-source failed" >&2
  t1=$(now); c1=$(cpu)
  sampler_stop; record mem_load "$SAMPLE_MIB"; record mem_load_rss "$SAMPLE_RSS_MIB"
  record ingest_rate "$(calc "round($MESSAGES / ($t1 - $t0))")"
  record ingest_cpu "$(calc "round(($c1 - $c0) * 1e6 / $MESSAGES)")"
  settle
  q=$(srv_queued "$KIND"); [ "$q" -eq "$MESSAGES" ] || record note "queued $q of $MESSAGES after ingest"
  record_mem mem_queued
  q=$(srv_queued "$KIND")
  # 2 + 4. the primary comes up: recovery lag, then the drain
  c0=$(cpu); t0=$(now); sink_start
  if [ "$KIND" = postfix ]; then
    if wait_sink 1 "$LAG_CAP"; then
      record lag_first "$(calc "$(sink_field 2) - $t0")"
      wait_sink "$q" 600 || true; record lag_last "$(calc "$(sink_field 3) - $t0")"
    else
      record lag_first ">$LAG_CAP"; record lag_last ">$LAG_CAP"
      c0=$(cpu); t0=$(now)
      postqueue -c "$W/pfconf" -f
    fi
  fi
  wait_sink "$q" 900 || record note "flush: only $(sink_field 1) of $q delivered"
  c1=$(cpu)
  local first last n; n=$(sink_field 1) first=$(sink_field 2) last=$(sink_field 3)
  if [ "$KIND" = backupmx ]; then
    record lag_first "$(calc "$first - $t0")"; record lag_last "$(calc "$last - $t0")"
  fi
  record lagf_first "$(calc "$first - $t0")"; record lagf_last "$(calc "$last - $t0")"
  record flush_rate "$(calc "round($n / max($last - $first, 1e-3))")"
  record flush_cpu "$(calc "round(($c1 - $c0) * 1e6 / max($n, 1))")"
  # 3. end to end with the primary up
  local before; before=$n
  c0=$(cpu); t0=$(now)
  load "$MESSAGES" || echo "smtp-source failed" >&2
  t1=$(now)
  wait_sink $((before + MESSAGES)) 900 || record note "e2e: only $(( $(sink_field 1) - before )) delivered"
  c1=$(cpu)
  record e2e_accept "$(calc "round($MESSAGES / ($t1 - $t0))")"
  record e2e_deliver "$(calc "round(($(sink_field 1) - $before) / ($(sink_field 3) - $t0))")"
  record e2e_cpu "$(calc "round(($c1 - $c0) * 1e6 / $MESSAGES)")"
  end_instance
}

extras() {
  local conns=$CONNS; [ "$KIND" = postfix ] && conns=$PF_CONNS
  # 5. idle connections (Postfix needs one smtpd process per connection)
  if [ "$conns" -gt 0 ]; then
    new_instance "$conns"; sleep 1
    local m0; m0=$(python3 "$LIB/proc.py" mem "$SRV_PID" | awk '{print $2}')
    ( ulimit -n "$(ulimit -Hn)"; exec python3 "$LIB/idle.py" "$PORT" "$conns" 60 300 ) > "$W/idle.out" &
    IDLE_PID=$!
    for _ in $(seq 1800); do grep -q ready "$W/idle.out" 2>/dev/null && break; sleep 0.1; done
    sleep 2
    local g m1; g=$(sed -n 's/.*greeted=\([0-9]*\).*/\1/p' "$W/idle.out"); g=${g:-0}
    m1=$(python3 "$LIB/proc.py" mem "$SRV_PID" | awk '{print $2}')
    record idle_conns "$g"
    [ "$g" -gt 0 ] && record mem_per_conn "$(calc "round(($m1 - $m0) / $g, 1)")"
    kill -TERM "$IDLE_PID" 2>/dev/null; wait "$IDLE_PID" 2>/dev/null || true; IDLE_PID=
    end_instance
  fi
  # 7. one large message, primary down
  if [ "$BIG_BYTES" -gt 0 ]; then
    new_instance; sleep 1
    local p0 reply; p0=$(pss_mib)
    sampler_start
    reply=$(python3 "$LIB/smtpsend.py" big "$PORT" "$BIG_BYTES")
    sampler_stop; record big_growth "$(calc "round($SAMPLE_MIB - $p0, 1)")"
    record note "large message ($BIG_BYTES bytes): $reply"
    end_instance
  fi
  # 5 + 6. a bigger queue: memory and restart
  if [ "$QUEUED" -gt 0 ]; then
    new_instance
    load "$QUEUED" || echo "smtp-source failed" >&2
    settle
    record note "bigq: $(srv_queued "$KIND") queued"
    record_mem mem_bigq
    restart_timed; record restart_bigq "$RESTART_S"
    sleep 2; record_mem mem_bigq_restart
    # 4'. recovery right after a restart (no attempt has failed yet in this process)
    local t0; t0=$(now); sink_start
    if wait_sink 1 "$LAG_CAP"; then record lag_restart "$(calc "$(sink_field 2) - $t0")"
    else record lag_restart ">$LAG_CAP"; fi
    end_instance
  fi
}

machine() {
  echo "date: $(date -u +%FT%TZ)  commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "machine: $(nproc) cpus ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), " \
       "$(free -m | awk '/Mem:/{print $2}') MiB RAM, kernel $(uname -r)"
  echo "disk: $(df -h "${TMPDIR:-/tmp}" | awk 'NR==2{print $1, $2, "size,", $4, "free"}')"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "settings: ROUNDS=$ROUNDS MESSAGES=$MESSAGES SESSIONS=$SESSIONS SIZE=$SIZE QUEUED=$QUEUED" \
       "CONNS=$CONNS PF_CONNS=$PF_CONNS BIG_BYTES=$BIG_BYTES LAG_CAP=$LAG_CAP"
}

machine | tee "$OUT/machine.txt"
for ROUND in $(seq "$ROUNDS"); do
  each_kind "round $ROUND" one_round
done
ROUND=x
each_kind extras extras
KIND=
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
python3 "$LIB/stats.py" "$RES" | tee "$OUT/figures.txt"
