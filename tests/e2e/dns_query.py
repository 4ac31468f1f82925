#!/usr/bin/env python3
"""One DNS A query, as a client would send it.

    dns_query.py udp|tcp SERVER NAME [TIMEOUT]

Prints the first A address of the answer, or "rcode N" for an answer
without one; exits 2 when the server refused (ICMP port unreachable, TCP
reset) and 3 when nothing came back in time."""
import os
import socket
import struct
import sys

transport, server, name = sys.argv[1], sys.argv[2], sys.argv[3]
timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 10.0
qid = struct.unpack("!H", os.urandom(2))[0]
query = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
for label in name.split("."):
    query += bytes([len(label)]) + label.encode()
query += b"\0" + struct.pack("!HH", 1, 1)

try:
    if transport == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        s.connect((server, 53))  # connected: ICMP port unreachable shows as refused
        s.send(query)
        reply = s.recv(4096)
    else:
        s = socket.create_connection((server, 53), timeout=timeout)
        s.sendall(struct.pack("!H", len(query)) + query)
        head = s.recv(2, socket.MSG_WAITALL)
        if len(head) < 2:
            sys.exit(2)  # closed without an answer
        reply = s.recv(struct.unpack("!H", head)[0], socket.MSG_WAITALL)
except ConnectionRefusedError:
    sys.exit(2)
except (socket.timeout, TimeoutError):
    sys.exit(3)

rid, flags, qd, an = struct.unpack("!HHHH", reply[:8])
if rid != qid:
    print(f"wrong id {rid} != {qid}")
    sys.exit(1)
at = 12
for _ in range(qd):
    while reply[at] != 0:
        at += 1 + reply[at]
    at += 5
if an == 0:
    print(f"rcode {flags & 0xF}")
    sys.exit(0)
at += 2  # name pointer
rtype, _, _, rdlen = struct.unpack("!HHIH", reply[at:at + 10])
print(socket.inet_ntoa(reply[at + 10:at + 14]) if rtype == 1 and rdlen == 4 else f"type {rtype}")
