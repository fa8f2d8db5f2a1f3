#!/usr/bin/env python3
"""Tiny TCP probe for the Airlock test bed (run inside a namespace with `ip netns exec`).

  tcp_probe.py listen ADDR PORT [READY_FILE]
      Listens on ADDR:PORT, answers every connection with "testbed-hello\\n" and closes it.
      Writes "ready" to READY_FILE (if given) once the socket listens. Runs until killed,
      or at most TCP_PROBE_MAX_SECONDS (default 300) so a forgotten listener ends by itself.

  tcp_probe.py connect ADDR PORT [TIMEOUT_SECONDS]
      One connection attempt. Exit 0 if it connected (and, against a probe listener, read the
      greeting), 1 with the reason on stderr otherwise.

  tcp_probe.py wait ADDR PORT [TIMEOUT_SECONDS]
      Retries `connect` every 0.1 s until it succeeds (exit 0) or the deadline passes (exit 1).
"""
import os
import socket
import sys
import time

GREETING = b"testbed-hello\n"


def listen(addr, port, ready_file=None):
    max_seconds = float(os.environ.get("TCP_PROBE_MAX_SECONDS", "300"))
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(16)
    srv.settimeout(0.5)
    if ready_file:
        with open(ready_file, "w") as f:
            f.write("ready\n")
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
        with conn:
            try:
                conn.sendall(GREETING)
            except OSError:
                pass
    return 0


def connect(addr, port, timeout):
    try:
        with socket.create_connection((addr, port), timeout=timeout) as s:
            s.settimeout(timeout)
            try:
                s.recv(64)  # a probe listener greets; other servers (FerretDB) stay silent
            except socket.timeout:
                pass
        return 0
    except OSError as e:
        print(f"connect {addr}:{port}: {e.strerror or e}", file=sys.stderr)
        return 1


def wait(addr, port, timeout):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((addr, port), timeout=1.0):
                return 0
        except OSError as e:
            if time.monotonic() >= deadline:
                print(f"{addr}:{port} not accepting connections after {timeout:g}s: {e.strerror or e}",
                      file=sys.stderr)
                return 1
        time.sleep(0.1)


def main(argv):
    if len(argv) < 4 or argv[1] not in ("listen", "connect", "wait"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, addr, port = argv[1], argv[2], int(argv[3])
    if mode == "listen":
        return listen(addr, port, argv[4] if len(argv) > 4 else None)
    timeout = float(argv[4]) if len(argv) > 4 else (2.0 if mode == "connect" else 20.0)
    return connect(addr, port, timeout) if mode == "connect" else wait(addr, port, timeout)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
