#!/usr/bin/env python3
"""/proc helpers for bench/run.sh (Python 3 stdlib only, Linux).

  procmon.py ticks PID...                  sum of utime+stime (clock ticks) of the PIDs
  procmon.py rss PID...                    JSON {pid: VmRSS kB}
  procmon.py peak --out FILE PID...        sample VmRSS every --interval s until SIGTERM/SIGINT,
                                           then write JSON {pid: peak VmRSS kB} to FILE
  procmon.py wait-listen PORT [TIMEOUT]    wait until something LISTENs on 127.0.0.1:PORT
  procmon.py port-free PORT...             exit 1 (and name it) if any PORT is in use
"""
import json
import os
import signal
import sys
import time


def ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    # The comm field (2) may contain spaces/parens: split after the last ')'.
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime/stime are fields 14/15.
    return int(fields[11]) + int(fields[12])


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return 0  # zombie / kernel thread


def tcp_ports(states):
    """Local ports on 127.0.0.1 / 0.0.0.0 / :: in any of the given TCP states (hex)."""
    ports = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, st = parts[1], parts[3]
                    if st in states:
                        ports.add(int(local.rsplit(":", 1)[1], 16))
        except FileNotFoundError:
            pass
    return ports


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "ticks":
        print(sum(ticks(int(p)) for p in args))
    elif cmd == "rss":
        print(json.dumps({p: rss_kb(int(p)) for p in args}))
    elif cmd == "peak":
        out, interval, pids = None, 0.1, []
        it = iter(args)
        for a in it:
            if a == "--out":
                out = next(it)
            elif a == "--interval":
                interval = float(next(it))
            else:
                pids.append(int(a))
        peak = {p: 0 for p in pids}
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        signal.signal(signal.SIGINT, lambda *_: stop.append(1))
        while not stop:
            for p in pids:
                r = rss_kb(p)
                if r is not None and r > peak[p]:
                    peak[p] = r
            time.sleep(interval)
        tmp = out + ".tmp"
        with open(tmp, "w") as f:
            json.dump({str(p): v for p, v in peak.items()}, f)
        os.replace(tmp, out)
    elif cmd == "wait-listen":
        port = int(args[0])
        deadline = time.time() + (float(args[1]) if len(args) > 1 else 10.0)
        while port not in tcp_ports({"0A"}):
            if time.time() > deadline:
                sys.exit("nothing listens on port %d" % port)
            time.sleep(0.05)
    elif cmd == "port-free":
        # LISTEN (0A) or an established/other socket bound to the port.
        used = tcp_ports({"01", "02", "03", "0A"})
        busy = [p for p in args if int(p) in used]
        if busy:
            sys.exit("ports already in use: %s" % " ".join(busy))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
