#!/usr/bin/env python3
"""Process accounting for the benchmark: CPU and memory of a server's whole process tree.

A server is named by its root PID (backupmx's process, or Postfix's master). Its CPU is the root's
utime+stime plus cutime+cstime (children it has reaped, e.g. smtpd processes that exited) plus the
same for every live descendant. Memory is summed over the tree as RSS and as PSS (PSS shares pages
between processes, so Postfix's many processes are not charged their shared libraries N times).

  proc.py cpu ROOTPID            -> CPU seconds
  proc.py mem ROOTPID            -> "rss_kib pss_kib nprocs"
  proc.py sample ROOTPID STOPFILE -> samples mem every 0.1 s until STOPFILE exists; prints max
  proc.py freeport               -> a free loopback TCP port
"""
import os
import socket
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    # The command name is in parentheses and may hold spaces: split after the last ')'.
    return data[data.rindex(")") + 2:].split()


def children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            ppid = int(stat_fields(name)[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(name))
    return kids


def tree(root):
    kids = children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def cpu_seconds(root):
    total = 0
    for pid in tree(root):
        try:
            f = stat_fields(pid)
        except OSError:
            continue
        # fields (after pid and comm): utime=11 stime=12 cutime=13 cstime=14 (0-based here)
        total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return total / TICK


def mem_kib(root):
    rss = pss = n = 0
    for pid in tree(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
            n += 1
        except OSError:
            continue
    return rss, pss, n


def sample(root, stopfile):
    best = (0, 0, 0)
    while not os.path.exists(stopfile):
        m = mem_kib(root)
        if m[1] > best[1]:
            best = m
        time.sleep(0.1)
    print(*best)


def freeport():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main(argv):
    cmd = argv[1]
    if cmd == "cpu":
        print(f"{cpu_seconds(int(argv[2])):.3f}")
    elif cmd == "mem":
        print(*mem_kib(int(argv[2])))
    elif cmd == "sample":
        sample(int(argv[2]), argv[3])
    elif cmd == "freeport":
        print(freeport())
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
