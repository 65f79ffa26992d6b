# Server control for bench/run.sh: one backupmx or one private Postfix at a time, in $W.
# srv_start KIND SMTPPORT SINKPORT [SMTPD_PROCS] sets SRV_PID (root of the process tree);
# srv_stop KIND stops it; srv_queued KIND counts queued messages. Only PIDs we started are signalled.
# Kinds: backupmx (local spool), backupmx-pg (the PostgreSQL spool at $PG_URL, bench/lib/pg.sh), postfix.

PF_DIR=/usr/lib/postfix/sbin

bmx_config() { # PORT SINKPORT ADMINPORT
  cat > "$W/backupmx.toml" <<CONF
hostname = "mx2.bench.test"
[smtp]
listen = ["127.0.0.1:$1"]
max_connections = 20000
[limits]
# The load comes from one address (loopback): per-client abuse limits would measure the limiter.
exempt = ["127.0.0.0/8"]
[spool]
dir = "$W/spool"
${BMX_SPOOL_EXTRA:-}
[queue]
probe_interval = "1s"
[[domain]]
name = "bench.test"
primary = "127.0.0.1:$2"
# The sender checks (issue 15) are measured by bench/checks.sh; here the plain path, as before them
# (their default, "tag", would ask the system resolver for every message).
sender_checks = "${BMX_SENDER_CHECKS:-off}"
[admin]
listen = "127.0.0.1:$3"
${BMX_EXTRA:-}
CONF
}

bmx_start() { # PORT SINKPORT
  [ -f "$W/backupmx.toml" ] || bmx_config "$1" "$2" "$(python3 "$LIB/proc.py" freeport)"
  ( ulimit -n "$(ulimit -Hn)"; exec "$BIN" serve --config "$W/backupmx.toml" ) >> "$W/server.log" 2>&1 &
  SRV_PID=$!
}

bmx_stop() {
  [ -n "${SRV_PID:-}" ] || return 0
  kill -TERM "$SRV_PID" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SRV_PID" 2>/dev/null || true
  wait "$SRV_PID" 2>/dev/null || true
  SRV_PID=
}

pf_config() { # PORT SINKPORT SMTPD_PROCS
  local c="$W/pfconf" procs=${3:--}
  mkdir -p "$c" "$W/pfqueue" "$W/pfdata"
  chmod 755 "$W" "$c" "$W/pfqueue"
  chown postfix "$W/pfdata"
  : > "$c/main.cf"
  postconf -c "$c" -e \
    "compatibility_level = 3.6" \
    "queue_directory = $W/pfqueue" "data_directory = $W/pfdata" "meta_directory = /etc/postfix" \
    "command_directory = /usr/sbin" "daemon_directory = $PF_DIR" "shlib_directory = /usr/lib/postfix" \
    "mail_owner = postfix" "setgid_group = postdrop" \
    "myhostname = mx2pf.bench.test" "mydestination =" "local_recipient_maps =" \
    "alias_maps =" "alias_database =" \
    "relay_domains = bench.test" "smtpd_relay_restrictions = reject_unauth_destination" \
    "mynetworks = 127.0.0.2/32" "transport_maps = inline:{bench.test=smtp:[127.0.0.1]:$2}" \
    "default_transport = error:bench is loopback only" "smtp_dns_support_level = disabled" \
    "smtpd_peername_lookup = no" "inet_interfaces = 127.0.0.1" "inet_protocols = ipv4" \
    "notify_classes =" "biff = no" "message_size_limit = 52428800" \
    "smtpd_client_connection_count_limit = 0" "smtpd_client_connection_rate_limit = 0" \
    "maillog_file = $W/maillog" "maillog_file_prefixes = $W"
  {
    echo "127.0.0.1:$1 inet n - n - $procs smtpd"
    grep -v '^[#[:space:]]' /etc/postfix/master.cf.proto | grep -v '^$' | grep -v '^smtp *inet' |
      awk '$2 != "" { if ($5 == "y") $5 = "n"; print }' |
      grep -Ev '^(maildrop|uucp|ifmail|bsmtp|scalemail-backend|mailman) '
  } > "$c/master.cf"
}

pf_start() { # PORT SINKPORT [SMTPD_PROCS]
  pf_config "$1" "$2" "${3:-}"
  postfix -c "$W/pfconf" start >> "$W/postfix-ctl.log" 2>&1 || { cat "$W/postfix-ctl.log" >&2; return 1; }
  SRV_PID=
  for _ in $(seq 100); do
    [ -s "$W/pfqueue/pid/master.pid" ] && SRV_PID=$(tr -d ' \n' < "$W/pfqueue/pid/master.pid") && break
    sleep 0.05
  done
  [ -n "$SRV_PID" ]
}

pf_stop() {
  [ -n "${SRV_PID:-}" ] || return 0
  postfix -c "$W/pfconf" stop >> "$W/postfix-ctl.log" 2>&1 || kill -TERM "$SRV_PID" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SRV_PID" 2>/dev/null || true
  SRV_PID=
}

srv_start() { # KIND PORT SINKPORT [SMTPD_PROCS]
  local kind=$1; shift
  case "$kind" in
    backupmx) BMX_SPOOL_EXTRA= BMX_EXTRA= bmx_start "$@" ;;
    backupmx-pg) BMX_SPOOL_EXTRA="backend = \"postgres\"
postgres_url = \"$PG_URL\"" BMX_EXTRA="[cluster]
node = \"${NODE:-bench1}\"
lease = \"${LEASE:-15s}\"" bmx_start "$@" ;;
    *) pf_start "$@" ;;
  esac
  wait_port "$1" 30
}
srv_stop() { case "$1" in backupmx*) bmx_stop ;; *) pf_stop ;; esac; }

# Messages currently queued (spooled, not yet delivered).
srv_queued() {
  if [ "${1#backupmx}" != "$1" ]; then
    local q d
    q=$(grep -c 'message queued' "$W/server.log" || true)
    d=$(grep -c ' delivered' "$W/server.log" || true)
    echo $((q - d))
  else
    find "$W/pfqueue/incoming" "$W/pfqueue/active" "$W/pfqueue/deferred" "$W/pfqueue/maildrop" \
      -type f 2>/dev/null | wc -l
  fi
}

# Postfix only: messages not yet settled in the deferred queue (still being received or tried).
pf_unsettled() {
  find "$W/pfqueue/incoming" "$W/pfqueue/active" "$W/pfqueue/maildrop" -type f 2>/dev/null | wc -l
}

wait_port() { # PORT SECONDS: until something answers a TCP connect
  local i
  for i in $(seq $(($2 * 20))); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "port $1 not answering after $2 s" >&2
  return 1
}
