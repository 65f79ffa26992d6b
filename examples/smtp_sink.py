#!/usr/bin/env python3
"""A stand-in primary for trying backupmx: a minimal SMTP server (Python standard library only) that
accepts every message and prints one line per message. Usage: python3 examples/smtp_sink.py [PORT]
(default 2526, on 127.0.0.1). Stop it with Ctrl-C."""
import socketserver
import sys


class Session(socketserver.StreamRequestHandler):
    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        self.reply("220 sink ESMTP")
        sender, recipients = "", []
        for raw in self.rfile:
            verb = raw[:4].decode("ascii", "replace").upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 sink")
            elif verb == "MAIL":
                sender, recipients = raw.decode(errors="replace").strip()[10:], []
                self.reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                recipients.append(raw.decode(errors="replace").strip()[8:])
                self.reply("250 2.1.5 Ok")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                size = 0
                for line in self.rfile:
                    if line == b".\r\n":
                        break
                    size += len(line)
                else:
                    return  # the client left in the middle of the message
                print(f"received {size} bytes from {sender} for {', '.join(recipients)}", flush=True)
                self.reply("250 2.0.0 Ok: delivered")
            elif verb == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            else:  # RSET, NOOP and anything else
                self.reply("250 2.0.0 Ok")


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 2526
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    with socketserver.ThreadingTCPServer(("127.0.0.1", port), Session) as server:
        print(f"SMTP sink listening on 127.0.0.1:{port}", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
