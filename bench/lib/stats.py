#!/usr/bin/env python3
"""Turns results.tsv ("server round key value" lines) into one line per figure: medians over the
rounds, the backupmx/postfix ratio, and the spread (min..max) over rounds.

A value written ">X" means "more than X" (a capped wait): it counts as X in the median and the median
is shown with ">" when the censored value is the median.

  stats.py RESULTS.tsv
"""
import statistics
import sys

# key, label, unit, decimals
FIGURES = [
    ("ingest_rate", "1 ingest (primary down) rate", "msg/s", 0),
    ("ingest_cpu", "1 ingest server CPU", "us/msg", 0),
    ("flush_rate", "2 flush drain rate", "msg/s", 0),
    ("flush_cpu", "2 flush server CPU", "us/msg", 0),
    ("e2e_accept", "3 end-to-end accepted", "msg/s", 0),
    ("e2e_deliver", "3 end-to-end delivered", "msg/s", 0),
    ("e2e_cpu", "3 end-to-end server CPU", "us/msg", 0),
    ("lag_first", "4 recovery lag to first (own detection / defaults)", "s", 2),
    ("lag_last", "4 recovery lag to last (own detection / defaults)", "s", 2),
    ("lagf_first", "4 recovery lag to first, postqueue -f (backupmx: own)", "s", 2),
    ("lagf_last", "4 recovery lag to last, postqueue -f (backupmx: own)", "s", 2),
    ("lag_restart", "4 recovery lag to first, primary up right after a restart", "s", 2),
    ("mem_idle", "5 memory idle (PSS)", "MiB", 1),
    ("mem_idle_rss", "5 memory idle (RSS, summed)", "MiB", 1),
    ("mem_load", "5 memory under load, max (PSS)", "MiB", 1),
    ("mem_load_rss", "5 memory under load, max (RSS, summed)", "MiB", 1),
    ("mem_queued", "5 memory with the round's N queued (PSS)", "MiB", 1),
    ("mem_queued_rss", "5 memory with the round's N queued (RSS, summed)", "MiB", 1),
    ("mem_bigq", "5 memory with QUEUED queued (PSS)", "MiB", 1),
    ("mem_bigq_rss", "5 memory with QUEUED queued (RSS, summed)", "MiB", 1),
    ("mem_bigq_restart", "5 memory with QUEUED queued, after restart (PSS)", "MiB", 1),
    ("mem_bigq_restart_rss", "5 memory with QUEUED queued, after restart (RSS, summed)", "MiB", 1),
    ("idle_conns", "5 idle connections held", "conns", 0),
    ("mem_per_conn", "5 memory per idle connection (PSS)", "KiB", 1),
    ("restart_bigq", "6 restart to accepting, QUEUED queued", "s", 2),
    ("big_growth", "7 50 MB message: PSS growth", "MiB", 1),
    ("flush_first", "2 flush: primary up to first delivery", "s", 2),
    ("ingest_db_xacts_per_msg", "8 cluster: database transactions per message at ingest", "xact/msg", 3),
    ("takeover_first", "8 cluster: kill -9 of the delivering node to first delivery by another", "s", 2),
]


def parse(v):
    if v.startswith(">"):
        return float(v[1:]), True
    try:
        return float(v), False
    except ValueError:
        return None, False


def summarize(values):
    parsed = [parse(v) for v in values]
    nums = [p for p in parsed if p[0] is not None]
    if not nums:
        return None, False, None
    med = statistics.median_low(sorted(nums))
    lo, hi = min(n[0] for n in nums), max(n[0] for n in nums)
    return med[0], med[1], (lo, hi)


def fmt(val, censored, dec):
    if val is None:
        return "n/a"
    return (">" if censored else "") + f"{val:.{dec}f}"


def main():
    data = {}
    notes = []
    for line in open(sys.argv[1]):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 4:
            continue
        server, rnd, key, value = parts
        if key == "note":
            notes.append(f"{server} round {rnd}: {value}")
            continue
        data.setdefault((key, server), []).append(value)
    for key, label, unit, dec in FIGURES:
        for ours in ("backupmx", "backupmx-pg"):
            report(data, key, label if ours == "backupmx" else f"{label} [postgres backend]", unit, dec, ours)
    for n in notes:
        print("note:", n)


def report(data, key, label, unit, dec, ours):
    """One figure: `ours` (backupmx, or backupmx with its PostgreSQL spool) against Postfix."""
    a = summarize(data.get((key, ours), []))
    b = summarize(data.get((key, "postfix"), []))
    if a[0] is None:
        return
    if a[0] is not None and b[0]:
        ratio = f"{a[0] / b[0]:.2f}"
        if b[1] and not a[1]:
            ratio = "<" + ratio
        elif a[1] and not b[1]:
            ratio = ">" + ratio
        elif a[1] and b[1]:
            ratio = "?"
    else:
        ratio = "n/a"
    spread = "; ".join(
        f"{name} {fmt(s[2][0], False, dec)}..{fmt(s[2][1], False, dec)} (n={len(data.get((key, name), []))})"
        for name, s in ((ours, a), ("postfix", b)) if s[2])
    print(f"{label}: {ours} {fmt(a[0], a[1], dec)} {unit} | postfix {fmt(b[0], b[1], dec)} {unit} "
          f"| ratio {ratio}   [spread {spread}]")


if __name__ == "__main__":
    main()
