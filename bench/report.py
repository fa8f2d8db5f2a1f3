#!/usr/bin/env python3
"""Turn the result files written by bench/run.sh into a markdown table.

  report.py RESULTS_DIR

Files read (missing or broken ones show up as "error" in the table):
  meta.json                       run parameters / environment
  iperf-{raw,ssh,airlock}-{1,8,64}.json   iperf3 --json client output
  rtt-{mode}.json, setup-{mode}.json      output of latency.py
  cpu-{airlock,ssh}-{1,64}.txt    "ticks_before ticks_after clk_tck"
  pids.json                       {"airlock": [pid...], "ssh": [pid...]}
  rss-idle.json, rss-peak.json, rss-after.json   {pid: VmRSS kB}
"""
import json
import os
import sys

MODES = ("airlock", "raw", "ssh")


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class Results:
    def __init__(self, d):
        self.d = d

    def path(self, name):
        return os.path.join(self.d, name)

    def iperf(self, mode, streams):
        """(bits/s, bytes) received by the iperf3 server, or (None, None)."""
        j = load_json(self.path("iperf-%s-%d.json" % (mode, streams)))
        if not j or j.get("error"):
            return None, None
        try:
            s = j["end"]["sum_received"]
            return float(s["bits_per_second"]), int(s["bytes"])
        except (KeyError, TypeError, ValueError):
            return None, None

    def gbps(self, mode, streams):
        bps, _ = self.iperf(mode, streams)
        return None if bps is None else bps / 1e9

    def lat(self, kind, mode, key):
        j = load_json(self.path("%s-%s.json" % (kind, mode)))
        return None if not j else j.get(key)

    def cpu_per_gb(self, mode, streams):
        try:
            with open(self.path("cpu-%s-%d.txt" % (mode, streams))) as f:
                before, after, hz = (float(x) for x in f.read().split())
        except (OSError, ValueError):
            return None
        _, nbytes = self.iperf(mode, streams)
        if not nbytes:
            return None
        return ((after - before) / hz) / (nbytes / 1e9)

    def rss_mib(self, which, group):
        """Largest VmRSS (MiB) among the group's processes in rss-<which>.json."""
        pids = (load_json(self.path("pids.json")) or {}).get(group) or []
        j = load_json(self.path("rss-%s.json" % which)) or {}
        vals = [j.get(str(p)) for p in pids]
        vals = [v for v in vals if isinstance(v, (int, float)) and v > 0]
        return max(vals) / 1024.0 if vals else None


def fmt(v, digits):
    if v is None:
        return "error"
    return "%.*f" % (digits, v)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    r = Results(sys.argv[1])
    meta = load_json(r.path("meta.json")) or {}

    rows = []

    # (metric, unit, {mode: value}, digits, target text, check(a, ssh) -> bool or None)
    def row(metric, vals, digits, target, check=None, ratio=True):
        a, raw, ssh = vals.get("airlock"), vals.get("raw"), vals.get("ssh")
        rat = (a / ssh) if (ratio and a is not None and ssh not in (None, 0)) else None
        if check is None:
            status = "info"
        else:
            ok = check(a, ssh, rat)
            status = "n/a" if ok is None else ("PASS" if ok else "FAIL")
        rows.append([
            metric,
            fmt(a, digits),
            vals.get("raw_text") or fmt(raw, digits),
            fmt(ssh, digits),
            ("%.2f×" % rat) if rat is not None else ("n/a" if not ratio else "error"),
            target,
            status,
        ])

    def ratio_at_least(x):
        return lambda a, s, rat: None if rat is None else rat >= x

    def at_most_ssh(a, s, rat):
        return None if (a is None or s is None) else a <= s

    dur = meta.get("duration", "?")
    for streams, target, check in (
        (1, "≥ 1.0× ssh -L", ratio_at_least(1.0)),
        (8, "—", None),
        (64, "≥ 1.0× ssh -L", ratio_at_least(1.0)),
    ):
        label = "single stream" if streams == 1 else "%d parallel streams (aggregate)" % streams
        row("Throughput, %s [Gbit/s]" % label,
            {m: r.gbps(m, streams) for m in MODES}, 2, target, check)

    n_rtt = meta.get("rtt_count", "?")
    row("Round trip %s B, p50 [µs]" % meta.get("rtt_size", 64),
        {m: r.lat("rtt", m, "p50") for m in MODES}, 0, "≤ ssh -L", at_most_ssh)
    row("Round trip %s B, p99 [µs]" % meta.get("rtt_size", 64),
        {m: r.lat("rtt", m, "p99") for m in MODES}, 0, "—")
    row("Connection set-up (connect → 1st echoed byte), p50 [ms]",
        {m: r.lat("setup", m, "p50") for m in MODES}, 3, "≤ 1 ms",
        lambda a, s, rat: None if a is None else a <= 1.0)
    row("Connection set-up (connect → 1st echoed byte), p99 [ms]",
        {m: r.lat("setup", m, "p99") for m in MODES}, 3, "—")

    kernel = {"raw_text": "n/a (kernel)"}
    row("CPU per GB, single stream [CPU s/GB]",
        dict(kernel, airlock=r.cpu_per_gb("airlock", 1), ssh=r.cpu_per_gb("ssh", 1)),
        2, "≤ ssh -L", at_most_ssh)
    row("CPU per GB, 64 streams [CPU s/GB]",
        dict(kernel, airlock=r.cpu_per_gb("airlock", 64), ssh=r.cpu_per_gb("ssh", 64)),
        2, "—")
    row("Idle RSS, largest process [MiB]",
        dict(kernel, airlock=r.rss_mib("idle", "airlock"), ssh=r.rss_mib("idle", "ssh")),
        1, "≤ 20 MiB per node",
        lambda a, s, rat: None if a is None else a <= 20.0)
    row("Peak RSS under load, largest process [MiB]",
        dict(kernel, airlock=r.rss_mib("peak", "airlock"), ssh=r.rss_mib("peak", "ssh")),
        1, "—")
    row("RSS after load (idle again), largest process [MiB]",
        dict(kernel, airlock=r.rss_mib("after", "airlock"), ssh=r.rss_mib("after", "ssh")),
        1, "—")

    head = ["metric", "airlock portal", "raw loopback", "ssh -L (aes128-gcm)",
            "airlock/ssh", "target", "status"]
    widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(len(head))]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    print("### Airlock portal benchmark")
    print()
    print("- %s; %s CPUs; load average at start: %s" % (
        meta.get("date", "?"), meta.get("ncpu", "?"), meta.get("loadavg_start", "?")))
    print("- airlock: `%s`; %s; %s" % (meta.get("airlock_bin", "?"), meta.get("airlock_version", "?"),
                                       meta.get("ssh_version", "?")))
    print("- iperf3 `-t %s` (%s); %s round trips of %s B; %s connection set-ups; QUICK=%s" % (
        dur, meta.get("iperf_version", "?"), n_rtt, meta.get("rtt_size", 64),
        meta.get("setup_count", "?"), meta.get("quick", "0")))
    print()
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for x in rows:
        print(line(x))
    fails = [x[0] for x in rows if x[-1] == "FAIL"]
    errors = [x[0] for x in rows if "error" in x[1:5]]
    print()
    print("Targets met: %d of %d%s" % (
        sum(1 for x in rows if x[-1] == "PASS"), sum(1 for x in rows if x[-1] in ("PASS", "FAIL", "n/a")),
        (" — missed: " + "; ".join(fails)) if fails else ""))
    if errors:
        print("Measurements that failed: " + "; ".join(errors))
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
