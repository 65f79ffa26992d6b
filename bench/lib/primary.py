#!/usr/bin/env python3
"""A primary MX in the simplest style many servers have: one thread per connection, each reply
written with its own send(), Nagle's algorithm left on (unless --nodelay). It accepts every message
and discards it, counting per mailbox and checking each mailbox's order by the message's
"X-Seq: MAILBOX N" header.

STATEFILE holds "count first_ts last_ts out_of_order sessions max_concurrent" (epoch seconds of the
first and the latest message; sessions that sent MAIL, and the most of them open at once), like
sink.py's first three fields, rewritten every 0.05 s while messages arrive and at exit (SIGTERM).

  primary.py PORT STATEFILE [--nodelay] [--chunking]

--chunking also offers CHUNKING (BDAT, RFC 3030).
"""
import os
import re
import signal
import socket
import socketserver
import sys
import threading
import time

SEQ = re.compile(rb"^X-Seq: (\S+) (\d+)\r?$", re.M)


class Stats:
    def __init__(self, path):
        self.path, self.lock = path, threading.Lock()
        self.count, self.first, self.last, self.disorder = 0, 0.0, 0.0, 0
        self.last_seq = {}
        self.sessions, self.open, self.max_open = 0, 0, 0
        self.dirty = False
        self.write()
        threading.Thread(target=self.flusher, daemon=True).start()

    def flusher(self):
        while True:
            time.sleep(0.05)
            with self.lock:
                if self.dirty:
                    self.write()
                    self.dirty = False

    def message(self, body):
        now = time.time()
        with self.lock:
            if self.count == 0:
                self.first = now
            self.count, self.last = self.count + 1, now
            m = SEQ.search(body[:4096])
            if m:
                box, n = m.group(1), int(m.group(2))
                if n < self.last_seq.get(box, -1):
                    self.disorder += 1
                self.last_seq[box] = max(n, self.last_seq.get(box, -1))
            self.dirty = True

    def session(self, delta):
        with self.lock:
            self.open += delta
            if delta > 0:
                self.sessions += 1
                self.max_open = max(self.max_open, self.open)

    def write(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{self.count} {self.first:.6f} {self.last:.6f} {self.disorder} "
                    f"{self.sessions} {self.max_open}\n")
        os.replace(tmp, self.path)


class Session(socketserver.StreamRequestHandler):
    def reply(self, text):
        # One send() per reply, on purpose: that is the behaviour under test.
        self.request.send(text.encode() + b"\r\n")

    def handle(self):
        self.mailed = False
        try:
            self.dialogue()
        finally:
            if self.mailed:
                self.server.stats.session(-1)

    def dialogue(self):
        sock = self.request
        if self.server.nodelay:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reply("220 primary.bench.test ESMTP")
        rfile = self.rfile
        while True:
            line = rfile.readline(4096)
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                ext = ["PIPELINING", "8BITMIME", "SIZE 52428800", "ENHANCEDSTATUSCODES"]
                if self.server.chunking:
                    ext.append("CHUNKING")
                self.reply("\r\n".join(["250-primary.bench.test"] + [f"250-{e}" for e in ext[:-1]]
                                       + [f"250 {ext[-1]}"]))
            elif verb == b"HELO":
                self.reply("250 primary.bench.test")
            elif verb == b"MAIL":
                if not self.mailed:
                    self.mailed = True
                    self.server.stats.session(1)
                self.reply("250 2.1.0 Ok")
            elif verb == b"RCPT":
                self.reply("250 2.1.5 Ok")
            elif verb == b"DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                body = self.read_data(rfile)
                if body is None:
                    return
                self.server.stats.message(body)
                self.reply("250 2.0.0 Ok: queued")
            elif verb == b"BDAT" and self.server.chunking:
                body = self.read_bdat(rfile, line)
                if body is None:
                    return
                if body is not False:
                    self.server.stats.message(body)
                    self.reply("250 2.0.0 Ok: queued")
            elif verb in (b"RSET", b"NOOP"):
                self.chunks = []
                self.reply("250 2.0.0 Ok")
            elif verb == b"QUIT":
                self.reply("221 2.0.0 Bye")
                return
            else:
                self.reply("502 5.5.2 Error: command not recognized")

    def read_data(self, rfile):
        lines = []
        while True:
            line = rfile.readline(65536)
            if not line:
                return None
            if line == b".\r\n":
                return b"".join(lines)
            lines.append(line[1:] if line.startswith(b"..") else line)

    def read_bdat(self, rfile, line):
        """A chunk: its 250 unless it is the last (returns the whole body then), None on EOF."""
        words = line.split()
        size = int(words[1])
        data = rfile.read(size)
        if len(data) < size:
            return None
        chunks = getattr(self, "chunks", [])
        chunks.append(data)
        if len(words) > 2 and words[2].upper() == b"LAST":
            self.chunks = []
            return b"".join(chunks)
        self.chunks = chunks
        self.reply(f"250 2.0.0 {size} octets received")
        return False


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def main():
    port, state = int(sys.argv[1]), sys.argv[2]
    server = Server(("127.0.0.1", port), Session)
    server.nodelay = "--nodelay" in sys.argv
    server.chunking = "--chunking" in sys.argv
    server.stats = Stats(state)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        with server.stats.lock:
            server.stats.write()


if __name__ == "__main__":
    main()
