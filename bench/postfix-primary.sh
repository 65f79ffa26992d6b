#!/usr/bin/env bash
# Interoperability check: backupmx drains its queue into a real Postfix smtpd as the primary, with
# Postfix's strictest pipelining check on (smtpd_forbid_unauth_pipelining = yes). N messages are queued
# with the primary down (smtp-source -> backupmx), then Postfix starts (relaying to smtp-sink) and
# backupmx's recovery detection drains the queue, each message's MAIL/RCPT/DATA pipelined behind the
# previous end of data. Prints what each side saw; exits 1 unless all N arrive, exactly once each at
# Postfix, with no pipelining complaint. Loopback only; stops only the processes it started.
#   N=2000 bench/postfix-primary.sh
set -euo pipefail
N=${N:-2000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LIB="$ROOT/bench/lib"
BIN="$ROOT/target/release/backupmx"
source "$LIB/servers.sh"
if ! [ -x /usr/sbin/smtp-source ] || ! [ -x /usr/sbin/postfix ]; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y postfix >&2
fi
(cd "$ROOT" && cargo build --release --quiet)
W=$(mktemp -d); chmod 755 "$W"
SRV_PID= BMX_PID= PF_PID= SINK_PID=
cleanup() {
  set +e
  [ -n "$PF_PID" ] && { SRV_PID=$PF_PID; pf_stop; }
  [ -n "$BMX_PID" ] && { SRV_PID=$BMX_PID; bmx_stop; }
  [ -n "$SINK_PID" ] && { kill -TERM "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null; }
  rm -rf "$W"
}
trap cleanup EXIT
free() { python3 "$LIB/proc.py" freeport; }
PF=$(free) SINK=$(free) BMX=$(free)

bmx_config "$BMX" "$PF" "$(free)"
bmx_start "$BMX" "$PF"; BMX_PID=$SRV_PID; wait_port "$BMX" 30
smtp-source -s 20 -m "$N" -l 4096 -f sender@src.test -t user@bench.test "127.0.0.1:$BMX"
python3 "$LIB/sink.py" "$SINK" "$W/sink.state" & SINK_PID=$!
pf_config "$PF" "$SINK"
postconf -c "$W/pfconf" -e "smtpd_forbid_unauth_pipelining = yes"
SRV_PID=; pf_start "$PF" "$SINK"; PF_PID=$SRV_PID
t0=$(date +%s.%N)
for _ in $(seq 1200); do
  [ "$(awk '{print $1}' "$W/sink.state" 2>/dev/null || echo 0)" -ge "$N" ] && break
  sleep 0.1
done
t1=$(date +%s.%N)
sleep 2
got=$(awk '{print $1}' "$W/sink.state")
accepted=$(grep -c 'smtpd.*: client=' "$W/maillog" || true)
improper=$(grep -ci 'improper' "$W/maillog" || true)
echo "backupmx queued $N with Postfix down; after Postfix started:"
echo "  Postfix smtpd accepted $accepted messages over $(grep -c 'smtpd.*: connect from' "$W/maillog" || true) connections" \
     "(probes included), in $(python3 -c "print(round($t1 - $t0, 2))") s to the last one at the sink"
echo "  smtp-sink behind Postfix received $got"
echo "  Postfix log lines about improper pipelining: $improper"
echo "  backupmx log: $(grep -c ' delivered' "$W/server.log" || true) delivered"
[ "$got" -eq "$N" ] && [ "$accepted" -eq "$N" ] && [ "$improper" -eq 0 ]
