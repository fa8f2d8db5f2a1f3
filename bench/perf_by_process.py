#!/usr/bin/env python3
"""Summarises `perf script -F pid,ip,sym` (stdin, with call chains) per process: the share of samples
each process took and its top leaf symbols. Arguments: NAME=PID pairs naming the processes.

  perf script -i perf.data -F pid,ip,sym | python3 bench/perf_by_process.py project=123 inlet=456
"""
import collections
import sys

names = dict(reversed(a.split("=", 1)) for a in sys.argv[1:])
per_pid = collections.Counter()
leaves = collections.defaultdict(collections.Counter)
pid = None
want_leaf = False
for line in sys.stdin:
    if not line.strip():
        pid = None
        continue
    if not line.startswith("\t"):
        pid = line.split()[0]
        per_pid[pid] += 1
        want_leaf = True
        continue
    if want_leaf and pid is not None:
        parts = line.split(None, 1)
        sym = parts[1].strip() if len(parts) > 1 else parts[0]
        leaves[pid][sym.split("+0x")[0][:80]] += 1
        want_leaf = False
total = sum(per_pid.values()) or 1
for p, n in per_pid.most_common():
    print(f"{names.get(p, 'pid ' + p)}: {100 * n / total:.1f}% of samples", file=sys.stdout)
    for sym, k in leaves[p].most_common(8):
        print(f"    {100 * k / n:5.1f}%  {sym}")
