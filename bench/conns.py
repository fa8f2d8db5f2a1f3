#!/usr/bin/env python3
"""Many concurrent connections for bench/conns.sh (Python 3 stdlib only).

  conns.py hold --port P --count N [--batch B]

Opens N TCP connections to 127.0.0.1:P in batches of B (default 200). A connection counts as
open once one byte sent on it came back (so the whole path through a portal is set up). Prints
one JSON line {"event": "opened", ...} and then reads commands from stdin, one per line:

  ping    send one byte on every connection and wait for every echo; prints {"event": "pinged"}
  close   close every connection; prints {"event": "closed"} and exits

EOF on stdin closes everything as well. Every wait is bounded (--timeout per batch or ping pass);
a connection that fails or does not answer in time makes the command print {"event": "error"}
and exit 1.
"""
import argparse
import json
import selectors
import socket
import sys
import time

HOST = "127.0.0.1"


def out(obj):
    print(json.dumps(obj), flush=True)


def fail(msg):
    out({"event": "error", "error": msg})
    sys.exit(1)


def echo_round(socks, timeout, connect_first):
    """Sends one byte on each socket (after its connect completed) and waits for every echo."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_WRITE if connect_first else selectors.EVENT_READ, "w" if connect_first else "r")
        if not connect_first:
            s.send(b"p")
    waiting = len(socks)
    deadline = time.monotonic() + timeout
    while waiting:
        left = deadline - time.monotonic()
        if left <= 0:
            fail(f"{waiting} of {len(socks)} connections did not answer within {timeout} s")
        for key, _ in sel.select(left):
            s = key.fileobj
            if key.data == "w":
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    fail(f"connect failed: errno {err}")
                s.send(b"o")
                sel.modify(s, selectors.EVENT_READ, "r")
                continue
            try:
                b = s.recv(16)
            except BlockingIOError:
                continue
            except OSError as e:
                fail(f"recv failed: {e}")
            if not b:
                fail("a connection was closed by the other side")
            sel.unregister(s)
            waiting -= 1
    sel.close()


def hold(args):
    socks = []
    t0 = time.perf_counter()
    for start in range(0, args.count, args.batch):
        group = []
        for _ in range(min(args.batch, args.count - start)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(False)
            s.connect_ex((HOST, args.port))
            group.append(s)
        echo_round(group, args.timeout, connect_first=True)
        socks.extend(group)
    seconds = time.perf_counter() - t0
    out({"event": "opened", "count": len(socks), "seconds": seconds,
         "per_connection_ms": 1000 * seconds / max(1, len(socks))})
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "ping":
            t = time.perf_counter()
            for start in range(0, len(socks), args.batch):
                echo_round(socks[start:start + args.batch], args.timeout, connect_first=False)
            out({"event": "pinged", "count": len(socks), "seconds": time.perf_counter() - t})
        elif cmd == "close":
            break
        elif cmd:
            fail(f"unknown command {cmd!r}")
    for s in socks:
        s.close()
    out({"event": "closed", "count": len(socks)})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hold", help="open N connections and hold them")
    h.add_argument("--port", type=int, required=True)
    h.add_argument("--count", type=int, required=True)
    h.add_argument("--batch", type=int, default=200)
    h.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()
    hold(args)


if __name__ == "__main__":
    main()
