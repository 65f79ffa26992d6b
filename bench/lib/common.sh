# What bench/run.sh and bench/drain.sh share: the binary to measure, the results folder, timing
# helpers and waiting for a counter. Sourced after ROOT and LIB are set.

bench_bin() { # sets BIN: the given binary, or this tree's release build (built here)
  if [ -z "${BIN:-}" ]; then
    BIN="$ROOT/target/release/backupmx"
    (cd "$ROOT" && cargo build --release --quiet)
  fi
}

bench_out() { # sets OUT (kept when the caller named it: KEEP_OUT) and RES, an empty results.tsv in it
  KEEP_OUT=${OUT:+1}
  OUT=${OUT:-$(mktemp -d)}
  mkdir -p "$OUT"
  RES="$OUT/results.tsv"
  : > "$RES"
}

now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }

wait_at_least() { # FIELD COUNT SECONDS: until "$(FIELD 1)" reaches COUNT; returns 1 on timeout
  local end; end=$(calc "$(now) + $3")
  while [ "$("$1" 1)" -lt "$2" ]; do
    python3 -c "import sys; sys.exit(0 if $(now) < $end else 1)" || return 1
    sleep 0.1
  done
}

each_kind() { # LABEL FUNC: FUNC with KIND=backupmx, then KIND=postfix (the A B order), each announced
  for KIND in backupmx postfix; do
    echo "== $1: $KIND" >&2
    "$2"
  done
}
