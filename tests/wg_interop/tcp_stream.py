#!/usr/bin/env python3
"""A TCP sender and receiver that report the SHA-256 of what crossed the wire.

  tcp_stream.py recv HOST PORT
      listens, prints "ready", accepts one connection, reads to EOF, then
      prints "<bytes> <sha256>".
  tcp_stream.py send HOST PORT BYTES [--pause-at N]
      connects, sends BYTES random bytes; with --pause-at it prints "paused"
      after N bytes and waits for a line on stdin before going on (so a test
      can change the network mid-transfer). Prints "<bytes> <sha256>".
"""
import hashlib
import os
import socket
import sys
import time

CHUNK = 1 << 20


def recv(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(1)
        print("ready", flush=True)
        conn, _ = listener.accept()
        digest = hashlib.sha256()
        total = 0
        with conn:
            while True:
                data = conn.recv(CHUNK)
                if not data:
                    break
                digest.update(data)
                total += len(data)
    print(f"{total} {digest.hexdigest()}", flush=True)


def connect(host: str, port: int) -> socket.socket:
    deadline = time.monotonic() + 20
    while True:
        try:
            return socket.create_connection((host, port), timeout=30)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def send(host: str, port: int, size: int, pause_at: int) -> None:
    digest = hashlib.sha256()
    sent = 0
    paused = pause_at <= 0
    with connect(host, port) as conn:
        conn.settimeout(120)
        while sent < size:
            if not paused and sent >= pause_at:
                print("paused", flush=True)
                sys.stdin.readline()
                paused = True
            n = min(CHUNK, size - sent)
            if not paused:
                n = min(n, pause_at - sent)
            block = os.urandom(n)
            conn.sendall(block)
            digest.update(block)
            sent += n
        conn.shutdown(socket.SHUT_WR)
        # Wait for the receiver to close, so every byte was taken.
        conn.recv(1)
    print(f"{sent} {digest.hexdigest()}", flush=True)


def main() -> None:
    mode = sys.argv[1]
    if mode == "recv":
        recv(sys.argv[2], int(sys.argv[3]))
    elif mode == "send":
        pause_at = 0
        if len(sys.argv) > 5 and sys.argv[5] == "--pause-at":
            pause_at = int(sys.argv[6])
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), pause_at)
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
