#!/usr/bin/env python3
"""A tiny authoritative DNS server for tests, UDP and TCP on one address.

    dns_server.py ADDRESS PORT LOGFILE NAME=IPV4 [NAME=IPV4 ...]

It answers A questions for the names given, NXDOMAIN for any other, and
appends "<transport> <client address> <name>" to LOGFILE for every query.
Prints "ready" once both sockets are bound."""
import socket
import struct
import sys
import threading

ADDRESS, PORT, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3]
RECORDS = {k.lower().rstrip("."): v for k, v in (a.split("=", 1) for a in sys.argv[4:])}
lock = threading.Lock()


def answer(query):
    if len(query) < 12:
        return None, None
    qid, flags, qdcount = struct.unpack("!HHH", query[:6])
    if qdcount != 1:
        return None, None
    labels, at = [], 12
    while at < len(query) and query[at] != 0:
        n = query[at]
        labels.append(query[at + 1:at + 1 + n].decode("ascii", "replace"))
        at += 1 + n
    at += 1
    if at + 4 > len(query):
        return None, None
    qtype, _ = struct.unpack("!HH", query[at:at + 4])
    question = query[12:at + 4]
    name = ".".join(labels).lower()
    rd = flags & 0x0100
    if name in RECORDS and qtype == 1:
        header = struct.pack("!HHHHHH", qid, 0x8400 | rd | 0x0080, 1, 1, 0, 0)
        rr = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(RECORDS[name])
        return header + question + rr, name
    header = struct.pack("!HHHHHH", qid, 0x8400 | rd | 0x0080 | 3, 1, 0, 0, 0)
    return header + question, name


def log(transport, peer, name):
    with lock, open(LOG, "a") as f:
        f.write(f"{transport} {peer} {name}\n")


def serve_udp(sock):
    while True:
        data, peer = sock.recvfrom(4096)
        reply, name = answer(data)
        if reply:
            log("udp", peer[0], name)
            sock.sendto(reply, peer)


def serve_tcp_client(conn, peer):
    with conn:
        conn.settimeout(10)
        try:
            head = conn.recv(2, socket.MSG_WAITALL)
            if len(head) < 2:
                return
            data = conn.recv(struct.unpack("!H", head)[0], socket.MSG_WAITALL)
            reply, name = answer(data)
            if reply:
                log("tcp", peer[0], name)
                conn.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            pass


def serve_tcp(sock):
    while True:
        conn, peer = sock.accept()
        threading.Thread(target=serve_tcp_client, args=(conn, peer), daemon=True).start()


udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind((ADDRESS, PORT))
tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind((ADDRESS, PORT))
tcp.listen(16)
threading.Thread(target=serve_udp, args=(udp,), daemon=True).start()
print("ready", flush=True)
serve_tcp(tcp)
