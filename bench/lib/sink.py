#!/usr/bin/env python3
"""The primary for the benchmark: Postfix's smtp-sink, with its delivery counter timestamped.

smtp-sink -c prints "sess=.. quit=.. mesg=N\\r" whenever a message is received; we read that stream
and keep STATEFILE holding "count first_ts last_ts" (epoch seconds of the first and the latest
message). SIGTERM stops the sink and writes the final state.

  sink.py PORT STATEFILE
"""
import os
import select
import signal
import subprocess
import sys
import time

SINK = "/usr/sbin/smtp-sink"


def write_state(path, count, first, last):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{count} {first:.6f} {last:.6f}\n")
    os.replace(tmp, path)


def main():
    port, state = sys.argv[1], sys.argv[2]
    sink = os.environ.get("SMTP_SINK", SINK)
    proc = subprocess.Popen([sink, "-c", "-u", "root", f"127.0.0.1:{port}", "1024"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    count, first, last, dirty, written = 0, 0.0, 0.0, False, 0.0
    write_state(state, 0, 0.0, 0.0)
    buf = b""
    fd = proc.stdout.fileno()
    while not stopping:
        # Short waits so a stop request and a pending state write are never held up.
        ready, _, _ = select.select([fd], [], [], 0.02)
        if not ready:
            if dirty:
                write_state(state, count, first, last)
                dirty = False
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        now = time.time()
        buf += chunk
        *records, buf = buf.split(b"\r")
        for rec in records:
            pos = rec.rfind(b"mesg=")
            if pos < 0:
                continue
            n = int(rec[pos + 5:])
            if n > count:
                if count == 0:
                    first = now
                count, last, dirty = n, now, True
        if dirty and now - written > 0.1:
            write_state(state, count, first, last)
            dirty, written = False, now
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
    write_state(state, count, first, last)


if __name__ == "__main__":
    main()
