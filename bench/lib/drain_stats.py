#!/usr/bin/env python3
"""Turns drain.sh's results.tsv ("scenario server round key value") into one line per scenario:
medians over the rounds of the drain time (first to last delivery), the time from the primary's
start to the last delivery, the rate (messages / median drain time), sessions and out-of-order
deliveries; and the ratio of Postfix's drain time to backupmx's (> 1: backupmx drains faster), of the
medians and per round (rounds alternate the two servers).

  drain_stats.py RESULTS.tsv
"""
import statistics
import sys
from collections import defaultdict


def main():
    data = defaultdict(lambda: defaultdict(list))
    notes, order = [], []
    for line in open(sys.argv[1]):
        scen, server, _round, key, value = line.rstrip("\n").split("\t")
        if scen not in order:
            order.append(scen)
        if key == "note":
            notes.append(f"{scen} {server}: {value}")
            continue
        data[(scen, server)][key].append(float(value))

    def med(scen, server, key):
        values = data[(scen, server)].get(key)
        return statistics.median_low(values) if values else None

    def fmt(v, d=2):
        return "-" if v is None else f"{v:.{d}f}"

    print("scenario (primary/mailboxes) | backupmx drain s (start->last) rate msg/s sessions "
          "max-conc disorder | postfix ditto | postfix/backupmx drain time")
    for scen in order:
        cells = []
        for server in ("backupmx", "postfix"):
            span, n = med(scen, server, "span"), med(scen, server, "delivered")
            rate = n / max(span, 1e-3) if span is not None and n is not None else None
            cells.append(" ".join([
                fmt(span),
                f"({fmt(med(scen, server, 'from_start'))})",
                fmt(rate, 0),
                fmt(med(scen, server, "sessions"), 0),
                fmt(med(scen, server, "max_concurrent"), 0),
                fmt(med(scen, server, "out_of_order"), 0),
            ]))
        b, p = med(scen, "backupmx", "span"), med(scen, "postfix", "span")
        ratio = fmt(p / b) if b and p else "?"
        bs, ps = data[(scen, "backupmx")].get("span", []), data[(scen, "postfix")].get("span", [])
        per_round = " ".join(fmt(p / b) for b, p in zip(bs, ps) if b > 0)
        print(f"{scen} | {cells[0]} | {cells[1]} | {ratio}  (n={len(bs)}; per round {per_round})")
    for note in notes:
        print("note:", note)


if __name__ == "__main__":
    main()
