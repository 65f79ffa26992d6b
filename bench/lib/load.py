#!/usr/bin/env python3
"""Queues N messages of about SIZE bytes, round robin over K mailboxes (box0..box{K-1}@bench.test),
each with an "X-Seq: MAILBOX N" header so the primary can check each mailbox's order.

Each mailbox is fed by one thread only, in sequence, so arrival order per mailbox is the X-Seq order;
up to THREADS threads (fewer when K is smaller) send over reused connections (a new one every 100
messages). Prints "sent N in S s" and exits 1 if any message was refused.

  load.py PORT N K SIZE [THREADS]
"""
import smtplib
import sys
import threading
import time

FROM = "sender@src.test"


def message(box, seq, size):
    head = f"From: {FROM}\r\nTo: {box}@bench.test\r\nSubject: drain {seq}\r\nX-Seq: {box} {seq}\r\n\r\n"
    line = "x" * 76 + "\r\n"
    fill = max(0, size - len(head))
    return (head + line * (fill // len(line))).encode()


def worker(port, jobs, size, failures):
    conn, sent = None, 0
    for box, seq in jobs:
        try:
            if conn is None or sent % 100 == 0:
                if conn is not None:
                    conn.quit()
                conn = smtplib.SMTP("127.0.0.1", port, timeout=60)
            conn.sendmail(FROM, [f"{box}@bench.test"], message(box, seq, size))
            sent += 1
        except (OSError, smtplib.SMTPException) as e:
            failures.append(f"{box} {seq}: {e}")
            conn = None
    if conn is not None:
        conn.quit()


def main():
    port, n, k, size = (int(a) for a in sys.argv[1:5])
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 8
    threads = min(threads, k)
    plan = [[] for _ in range(threads)]
    for i in range(n):
        box = i % k
        plan[box % threads].append((f"box{box}", i // k))
    failures = []
    t0 = time.time()
    workers = [threading.Thread(target=worker, args=(port, jobs, size, failures)) for jobs in plan]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(f"sent {n - len(failures)} in {time.time() - t0:.2f} s")
    for f in failures[:5]:
        print("refused:", f, file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
