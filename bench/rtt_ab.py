#!/usr/bin/env python3
"""Interleaved round-trip A/B over two already running TCP forwarders (bench/rtt_ab.sh).

  rtt_ab.py --a PORT --b PORT [--blocks 30] [--block 1000] [--size 64]

One connection to each port (TCP_NODELAY), each echoing SIZE-byte messages. Blocks of BLOCK round
trips go A B A B … (the first of each pair alternates), so machine noise falls on both; prints
JSON: per side p50/p99/mean over all samples, and the per-pair ratios of block medians (B / A)
with their median and range.
"""
import argparse
import json
import socket
import statistics
import time


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def block(sock, n, msg):
    out = []
    size = len(msg)
    for _ in range(n):
        t0 = time.perf_counter_ns()
        sock.sendall(msg)
        got = 0
        while got < size:
            chunk = sock.recv(size - got)
            if not chunk:
                raise RuntimeError("connection closed")
            got += len(chunk)
        out.append((time.perf_counter_ns() - t0) / 1000.0)
    return out


def pct(values, p):
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", type=int, required=True)
    ap.add_argument("--b", type=int, required=True)
    ap.add_argument("--blocks", type=int, default=30)
    ap.add_argument("--block", type=int, default=1000)
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args()
    msg = b"x" * args.size
    socks = {"a": connect(args.a), "b": connect(args.b)}
    for s in socks.values():  # warm-up
        block(s, 200, msg)
    samples = {"a": [], "b": []}
    ratios = []
    for i in range(args.blocks):
        order = ("a", "b") if i % 2 == 0 else ("b", "a")
        med = {}
        for side in order:
            r = block(socks[side], args.block, msg)
            samples[side].extend(r)
            med[side] = statistics.median(r)
        ratios.append(med["b"] / med["a"])
    summary = {
        side: {
            "n": len(v),
            "p50_us": round(pct(v, 50), 1),
            "p99_us": round(pct(v, 99), 1),
            "mean_us": round(sum(v) / len(v), 1),
        }
        for side, v in samples.items()
    }
    summary["pairs"] = len(ratios)
    summary["b_over_a_block_median"] = {
        "median": round(statistics.median(ratios), 3),
        "min": round(min(ratios), 3),
        "max": round(max(ratios), 3),
        "b_slower_in": sum(r > 1 for r in ratios),
    }
    summary["b_over_a_p50"] = round(summary["b"]["p50_us"] / summary["a"]["p50_us"], 3)
    summary["b_over_a_p99"] = round(summary["b"]["p99_us"] / summary["a"]["p99_us"], 3)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
