#!/usr/bin/env python3
"""TCP echo server and latency clients for bench/run.sh (Python 3 stdlib only).

  latency.py serve --port P                 echo server on 127.0.0.1:P (TCP_NODELAY)
  latency.py rtt   --port P [--count N]     N round trips of --size bytes on one
                                            connection; prints JSON (microseconds)
  latency.py setup --port P [--count N]     N fresh connections, each timed from
                                            connect() to the first echoed byte;
                                            prints JSON (milliseconds)
"""
import argparse
import json
import selectors
import signal
import socket
import sys
import time

HOST = "127.0.0.1"


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(-(-p * len(sorted_values) // 100)) - 1))
    return sorted_values[k]


def summary(samples, scale):
    s = sorted(x * scale for x in samples)
    return {
        "n": len(s),
        "p50": percentile(s, 50),
        "p99": percentile(s, 99),
        "min": s[0],
        "max": s[-1],
        "mean": sum(s) / len(s),
    }


def serve(port):
    """Single-threaded, non-blocking echo server (no per-connection thread start cost)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sel = selectors.DefaultSelector()
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((HOST, port))
    lsock.listen(1024)
    lsock.setblocking(False)
    sel.register(lsock, selectors.EVENT_READ, None)
    pending = {}  # conn -> bytes still to write back

    def close(conn):
        pending.pop(conn, None)
        try:
            sel.unregister(conn)
        except (KeyError, ValueError):
            pass
        conn.close()

    while True:
        for key, events in sel.select():
            if key.data is None:
                while True:
                    try:
                        conn, _ = lsock.accept()
                    except BlockingIOError:
                        break
                    conn.setblocking(False)
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    pending[conn] = b""
                    sel.register(conn, selectors.EVENT_READ, "c")
                continue
            conn = key.fileobj
            if events & selectors.EVENT_READ:
                try:
                    data = conn.recv(65536)
                except (BlockingIOError, InterruptedError):
                    data = None
                except OSError:
                    close(conn)
                    continue
                if data == b"":
                    close(conn)
                    continue
                if data:
                    pending[conn] += data
            buf = pending.get(conn)
            if buf:
                try:
                    sent = conn.send(buf)
                except (BlockingIOError, InterruptedError):
                    sent = 0
                except OSError:
                    close(conn)
                    continue
                pending[conn] = buf = buf[sent:]
            want = selectors.EVENT_READ | (selectors.EVENT_WRITE if buf else 0)
            if key.events != want:
                sel.modify(conn, want, "c")


def recv_exact(sock, n):
    got = 0
    while got < n:
        chunk = sock.recv(n - got)
        if not chunk:
            raise ConnectionError("connection closed by peer after %d of %d bytes" % (got, n))
        got += len(chunk)


def rtt(port, count, size, warmup, timeout):
    sock = socket.create_connection((HOST, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    payload = b"x" * size
    samples = []
    clock = time.perf_counter
    for i in range(warmup + count):
        t0 = clock()
        sock.sendall(payload)
        recv_exact(sock, size)
        t1 = clock()
        if i >= warmup:
            samples.append(t1 - t0)
    sock.close()
    out = summary(samples, 1e6)
    out.update(unit="us", size=size)
    return out


def setup(port, count, warmup, timeout):
    samples = []
    clock = time.perf_counter
    for i in range(warmup + count):
        t0 = clock()
        sock = socket.create_connection((HOST, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"!")
        recv_exact(sock, 1)
        t1 = clock()
        sock.close()
        if i >= warmup:
            samples.append(t1 - t0)
    out = summary(samples, 1e3)
    out.update(unit="ms")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["serve", "rtt", "setup"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=None,
                    help="discarded iterations (default: 50 for rtt, 1 for setup)")
    ap.add_argument("--timeout", type=float, default=10.0)
    a = ap.parse_args()
    if a.mode == "serve":
        serve(a.port)
    elif a.mode == "rtt":
        print(json.dumps(rtt(a.port, a.count, a.size, 50 if a.warmup is None else a.warmup, a.timeout)))
    else:
        print(json.dumps(setup(a.port, a.count, 1 if a.warmup is None else a.warmup, a.timeout)))


if __name__ == "__main__":
    main()
