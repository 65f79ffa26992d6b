#!/usr/bin/env python3
"""One SMTP transaction, for the restart and large-message figures.

  smtpsend.py accept PORT T0 DEADLINE  -> retries until one small message gets 250; prints seconds
                                          since T0 (epoch), or "timeout"
  smtpsend.py big PORT BYTES           -> sends one message of about BYTES; prints the final reply
"""
import smtplib
import sys
import time

FROM, TO = "sender@src.test", "user@bench.test"


def accept(port, t0, deadline):
    msg = b"Subject: restart probe\r\n\r\nhello\r\n"
    while time.time() < deadline:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=5) as s:
                s.sendmail(FROM, [TO], msg)
                print(f"{time.time() - t0:.3f}")
                return
        except (OSError, smtplib.SMTPException):
            time.sleep(0.02)
    print("timeout")


def big(port, size):
    line = b"x" * 998 + b"\r\n"
    body = b"Subject: big\r\n\r\n" + line * (size // len(line))
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=300) as s:
            s.ehlo()
            s.mail(FROM, [f"SIZE={len(body)}"])
            s.rcpt(TO)
            code, reply = s.data(body)
            print(code, reply.decode(errors="replace").replace("\n", " "))
    except smtplib.SMTPResponseException as e:
        print(e.smtp_code, e.smtp_error.decode(errors="replace"))
    except (OSError, smtplib.SMTPException) as e:
        print("error", e)


if __name__ == "__main__":
    if sys.argv[1] == "accept":
        accept(int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]))
    else:
        big(int(sys.argv[2]), int(sys.argv[3]))
