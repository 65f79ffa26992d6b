#!/usr/bin/env python3
"""Reads a `tcpdump -nn -tt` capture (text) of SMTP connections to PORT and shows where time goes:
per connection, the gaps between consecutive packets; how many are 30 ms or more (delayed-ACK
stalls are ~40 ms on Linux), what precedes them, and one excerpt around the first stall.

  gaps.py CAPTURE.txt PORT
"""
import re
import sys
from collections import defaultdict

LINE = re.compile(r"^(\d+\.\d+) IP (\S+)\.(\d+) > (\S+)\.(\d+): Flags \[([^\]]*)\].*?length (\d+)")


def main():
    path, port = sys.argv[1], sys.argv[2]
    conns = defaultdict(list)
    for raw in open(path):
        m = LINE.match(raw)
        if not m:
            continue
        ts, sport, dport, flags, length = float(m[1]), m[3], m[5], m[6], int(m[7])
        client = dport if sport == port else sport
        who = "primary" if sport == port else "client "
        conns[client].append((ts, who, flags, length, raw.rstrip()))
    packets = sum(len(v) for v in conns.values())
    stalls, all_gaps, before = [], [], defaultdict(int)
    for client, pkts in conns.items():
        for prev, cur in zip(pkts, pkts[1:]):
            gap = cur[0] - prev[0]
            all_gaps.append(gap)
            if gap >= 0.030:
                stalls.append((gap, client, prev, cur))
                before[f"{prev[1]} {prev[2]} len>0" if prev[3] else f"{prev[1]} {prev[2]} len=0"] += 1
    span = max(p[0] for v in conns.values() for p in v) - min(p[0] for v in conns.values() for p in v) if packets else 0
    print(f"{packets} packets on {len(conns)} connections over {span:.3f} s")
    if not all_gaps:
        return
    all_gaps.sort()
    print(f"gaps between packets of a connection: median {all_gaps[len(all_gaps) // 2] * 1e3:.3f} ms, "
          f"{len(stalls)} of {len(all_gaps)} are >= 30 ms "
          f"(sum {sum(s[0] for s in stalls):.2f} s)")
    if stalls:
        mean = sum(s[0] for s in stalls) / len(stalls)
        print(f"stalls: mean {mean * 1e3:.1f} ms; packet before each stall: {dict(before)}")
        gap, client, prev, cur = stalls[min(len(stalls) - 1, 3)]
        pkts = conns[client]
        i = pkts.index(prev)
        print("excerpt around a stall (t relative to the first line):")
    else:
        # No stall: an excerpt from the middle of the busiest connection.
        pkts = max(conns.values(), key=len)
        i = len(pkts) // 2
        print("excerpt from the middle of the busiest connection (t relative to the first line):")
    t0 = pkts[max(0, i - 6)][0]
    for p in pkts[max(0, i - 6): i + 4]:
        print(f"  +{(p[0] - t0) * 1e3:8.3f} ms  {p[1]}  [{p[2]:>3}] len {p[3]}")


if __name__ == "__main__":
    main()
