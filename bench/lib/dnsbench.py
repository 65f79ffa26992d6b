#!/usr/bin/env python3
"""A loopback DNS responder for bench/checks.sh (dnspython; UDP only): serves the sender checks'
records for the bench's sender domain src.test and the ARC key, answers NXDOMAIN for the DNSBL
zone (nobody is listed) and for everything else. Usage: dnsbench.py PORT ARC_TXT_FILE"""
import socket
import sys

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

port = int(sys.argv[1])
arc_txt = open(sys.argv[2]).read().strip() if len(sys.argv) > 2 else ""

TXT = {
    "src.test.": "v=spf1 ip4:127.0.0.0/8 -all",
    "_dmarc.src.test.": "v=DMARC1; p=none",
    "arc._domainkey.bench.test.": arc_txt,
}
PTR = {"1.0.0.127.in-addr.arpa.": "localhost.bench.test."}
A = {"localhost.bench.test.": "127.0.0.1"}


def chunks(text):
    return " ".join('"%s"' % text[i:i + 255] for i in range(0, len(text), 255))


def answer(query):
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    question = query.question[0]
    name = question.name.to_text().lower()
    kind = question.rdtype
    data = None
    if kind == dns.rdatatype.TXT and TXT.get(name):
        data = chunks(TXT[name])
    elif kind == dns.rdatatype.PTR and name in PTR:
        data = PTR[name]
    elif kind == dns.rdatatype.A and name in A:
        data = A[name]
    if data is None:
        known = name in TXT or name in PTR or name in A
        response.set_rcode(dns.rcode.NOERROR if known else dns.rcode.NXDOMAIN)
    else:
        response.answer.append(dns.rrset.from_text(question.name, 300, "IN", kind, data))
    return response.to_wire()


sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", port))
while True:
    wire, peer = sock.recvfrom(4096)
    try:
        sock.sendto(answer(dns.message.from_wire(wire)), peer)
    except Exception as error:  # a malformed query: ignore it
        print("dns.py:", error, file=sys.stderr)
