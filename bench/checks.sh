#!/usr/bin/env bash
# What the sender checks (issue 15) cost at ingest: backupmx with the primary down, the same
# smtp-source load per variant, alternating with a plain Postfix ingest in the same run:
#   off        sender_checks = "off", no DNSBL (today's ingest)
#   tag        sender_checks = "tag": SPF (HELO, MAIL FROM), DKIM, DMARC, iprev, Authentication-Results
#   tag+dnsbl  and one DNSBL zone
#   +arc-ed    and an Ed25519 ARC seal
#   +arc-rsa   and an RSA-2048 ARC seal instead
# DNS is a loopback responder (bench/lib/dnsbench.py). Prints "variant: rate msg/s, server CPU us/msg"
# (medians over rounds) and the ratio to Postfix. Settings: ROUNDS=2 MESSAGES=5000 SESSIONS=20
# SIZE=4096 OUT=DIR BIN=PATH (as bench/run.sh).
set -euo pipefail
ROUNDS=${ROUNDS:-2} MESSAGES=${MESSAGES:-5000} SESSIONS=${SESSIONS:-20} SIZE=${SIZE:-4096}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LIB="$ROOT/bench/lib"
source "$LIB/servers.sh"
source "$LIB/common.sh"
bench_bin
bench_out
W= SRV_PID= DNS_PID= KIND= KEYS=
cleanup() {
  set +e
  [ -n "$DNS_PID" ] && kill "$DNS_PID" 2>/dev/null
  [ -n "$SRV_PID" ] && [ -n "$KIND" ] && srv_stop "$KIND"
  [ -n "$W" ] && rm -rf "$W"
  [ -n "$KEYS" ] && rm -rf "$KEYS"
  [ -z "$KEEP_OUT" ] && rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

KEYS=$(mktemp -d)
openssl genpkey -algorithm ed25519 -out "$KEYS/ed.pem" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$KEYS/rsa.pem" 2>/dev/null
# One DNS responder for the whole run; its ARC record is the Ed25519 key (seal verification is not
# part of ingest, so the RSA variant can share it).
echo "v=DKIM1; k=ed25519; p=$(openssl pkey -in "$KEYS/ed.pem" -pubout -outform DER | tail -c 32 | openssl base64 -A)" > "$KEYS/arc.txt"
# The responder needs dnspython: the python3 on PATH, or Debian's (python3-dnspython, which test.sh
# installs). Without it every look-up would time out and the run would measure DNS timeouts.
DNSPY=
for python in python3 /usr/bin/python3; do
  "$python" -c 'import dns.message' 2>/dev/null && { DNSPY=$python; break; }
done
[ -n "$DNSPY" ] || { echo "checks.sh: no python3 with dnspython (apt-get install python3-dnspython)" >&2; exit 1; }
DNSPORT=$(python3 "$LIB/proc.py" freeport)
"$DNSPY" "$LIB/dnsbench.py" "$DNSPORT" "$KEYS/arc.txt" 2>> "$OUT/dns.log" & DNS_PID=$!
sleep 0.5
kill -0 "$DNS_PID" 2>/dev/null || { echo "checks.sh: the DNS responder did not start:" >&2; cat "$OUT/dns.log" >&2; exit 1; }

variant_config() { # VARIANT: writes $W/backupmx.toml
  local mode=tag
  [ "$1" = off ] && mode=off
  BMX_SENDER_CHECKS=$mode bmx_config "$PORT" "$SINKPORT" "$(python3 "$LIB/proc.py" freeport)"
  printf '[dns]\nnameservers = ["127.0.0.1:%s"]\n' "$DNSPORT" >> "$W/backupmx.toml"
  case "$1" in tag+dnsbl|+arc-ed|+arc-rsa)
    printf '[[dnsbl]]\nzone = "bl.bench.test"\n' >> "$W/backupmx.toml";;
  esac
  case "$1" in
    +arc-ed) printf '[arc]\ndomain = "bench.test"\nselector = "arc"\nkey_file = "%s"\n' "$KEYS/ed.pem" >> "$W/backupmx.toml";;
    +arc-rsa) printf '[arc]\ndomain = "bench.test"\nselector = "arc"\nkey_file = "%s"\n' "$KEYS/rsa.pem" >> "$W/backupmx.toml";;
  esac
}

record() { printf '%s\t%s\t%s\t%s\n' "$KIND" "$ROUND" "$1" "$2" >> "$RES"; echo "  $KIND r$ROUND $1 = $2" >&2; }
cpu() { python3 "$LIB/proc.py" cpu "$SRV_PID"; }

ingest() { # VARIANT
  W=$(mktemp -d) PORT=$(python3 "$LIB/proc.py" freeport) SINKPORT=$(python3 "$LIB/proc.py" freeport)
  [ "$KIND" = backupmx ] && variant_config "$1"
  srv_start "$KIND" "$PORT" "$SINKPORT"
  sleep 1
  local c0 t0 t1 c1
  c0=$(cpu); t0=$(now)
  timeout 900 smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f sender@src.test \
    -t user@bench.test "127.0.0.1:$PORT" || echo "smtp-source failed" >&2
  t1=$(now); c1=$(cpu)
  record "$1 rate" "$(calc "round($MESSAGES / ($t1 - $t0))")"
  record "$1 cpu" "$(calc "round(($c1 - $c0) * 1e6 / $MESSAGES)")"
  if [ "$KIND" = backupmx ]; then
    local q; q=$(grep -c 'message queued' "$W/server.log" || true)
    [ "$q" -eq "$MESSAGES" ] || record note "$1: queued $q of $MESSAGES"
    grep -m1 -o 'client refused[^"]*\|message refused[^"]*' "$W/server.log" >&2 || true
  fi
  srv_stop "$KIND"; rm -rf "$W"; W=
}

for ROUND in $(seq "$ROUNDS"); do
  for variant in off tag tag+dnsbl +arc-ed +arc-rsa; do
    KIND=backupmx; echo "== round $ROUND: backupmx $variant" >&2; ingest "$variant"
  done
  KIND=postfix; echo "== round $ROUND: postfix" >&2; ingest plain
done
KIND=
python3 - "$RES" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
fig = {}
for kind, _, key, value in rows:
    if key != "note":
        fig.setdefault((kind, key), []).append(float(value))
med = lambda k: statistics.median(fig[k]) if k in fig else float("nan")
pf_rate, pf_cpu = med(("postfix", "plain rate")), med(("postfix", "plain cpu"))
print(f"postfix plain ingest: {pf_rate:.0f} msg/s, {pf_cpu:.0f} us/msg")
base = med(("backupmx", "off cpu"))
for v in ["off", "tag", "tag+dnsbl", "+arc-ed", "+arc-rsa"]:
    rate, cpu = med(("backupmx", f"{v} rate")), med(("backupmx", f"{v} cpu"))
    print(f"backupmx {v}: {rate:.0f} msg/s ({rate / pf_rate:.2f}x postfix), {cpu:.0f} us/msg "
          f"(+{cpu - base:.0f} over off; spread {min(fig[('backupmx', v + ' cpu')]):.0f}.."
          f"{max(fig[('backupmx', v + ' cpu')]):.0f})")
for kind, rnd, key, value in rows:
    if key == "note":
        print(f"note: {kind} round {rnd}: {value}")
PY
