#!/usr/bin/env python3
"""Table for bench/kafka.sh (Python 3 stdlib only).

  kafka_report.py RESULTS RECORDS RECORDS_SMALL LAT_RECORDS LAT_RATE ROUNDS [PERF_TXT]

RESULTS has one line per measurement: `KIND SIZE MODE ROUND FILE` (produce, consume, latency: the
perf tool's raw output, with FILE.cpu next to it) or `bytes SIZE MODE ROUND SEGMENT_BYTES N`.
"""
import os
import re
import statistics
import sys
import time

PRODUCE_RE = re.compile(
    r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
    r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th")


# The tool's report every 5 s (no percentiles): "N records sent, R records/sec (M MB/sec), A ms avg
# latency, X ms max latency."
WINDOW_RE = re.compile(r"^(\d+) records sent, [\d.]+ records/sec \([\d.]+ MB/sec\), ([\d.]+) ms avg latency, "
                       r"([\d.]+) ms max latency\.$", re.M)


# `--print-metrics`: client-level lines "GROUP:NAME:{client-id=ID}   : VALUE" (per-node and per-topic
# lines have more tags and are left out).
METRIC_RE = re.compile(r"^(producer-metrics|consumer-fetch-manager-metrics|consumer-metrics):([\w-]+):"
                       r"\{client-id=[^,}]*\}\s*:\s*(\S+)$", re.M)


def parse_metrics(text):
    out = {}
    for _, name, value in METRIC_RE.findall(text):
        try:
            v = float(value)
        except ValueError:
            continue
        if v == v:  # not NaN
            out["m:" + name] = v
    return out


def parse_produce(path):
    text = open(path).read()
    m = None
    for m in PRODUCE_RE.finditer(text):
        pass
    if not m:
        raise ValueError("no producer summary in " + path)
    g = m.groups()
    out = {"n": int(g[0]), "rps": float(g[1]), "mbs": float(g[2]), "avg": float(g[3]), "max": float(g[4]),
           "p50": float(g[5]), "p95": float(g[6]), "p99": float(g[7]), "p999": float(g[8])}
    # Steady state: the 5-s windows after the first one (which holds the client JVM's start-up:
    # class loading, JIT, metadata, the first connections, for enc the key epoch).
    windows = [(int(w[0]), float(w[1]), float(w[2])) for w in WINDOW_RE.findall(text)][1:]
    if windows:
        n = sum(w[0] for w in windows)
        out["steady_avg"] = sum(w[0] * w[1] for w in windows) / n if n else None
        out["steady_max"] = max(w[2] for w in windows)
    else:
        out["steady_avg"] = out["steady_max"] = None
    out.update(parse_metrics(text))
    return out


def parse_consume(path):
    # start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec,
    # rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec  (fetch.*: without the group join)
    text = open(path).read()
    for line in text.splitlines():
        f = [x.strip() for x in line.split(",")]
        if len(f) >= 10 and re.match(r"^[\d.]+$", f[2]):
            out = {"n": int(float(f[4])), "mb": float(f[2]), "rps": float(f[9]), "mbs": float(f[8]),
                   "rps_total": float(f[5]), "rebalance_ms": float(f[6]), "fetch_ms": float(f[7])}
            out.update(parse_metrics(text))
            return out
    raise ValueError("no consumer summary in " + path)


def parse_cpu(path):
    out = {}
    try:
        for line in open(path + ".cpu"):
            k, v = line.split()
            out[k] = float(v)
    except FileNotFoundError:
        pass
    return out


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main():
    res, records, records_small, lat_records, lat_rate, rounds = sys.argv[1:7]
    perf_txt = sys.argv[7] if len(sys.argv) > 7 else ""
    data = {}   # (kind, size, mode) -> {round: parsed}
    cpu = {}    # (kind, size, mode) -> {round: {proc: s}}
    for line in open(res):
        f = line.split()
        if not f:
            continue
        kind, size, mode, rnd = f[0], int(f[1]), f[2], int(f[3])
        key = (kind, size, mode)
        if kind == "bytes":
            data.setdefault(key, {})[rnd] = {"bytes": int(f[4]), "n": int(f[5])}
            continue
        parsed = parse_consume(f[4]) if kind == "consume" else parse_produce(f[4])
        data.setdefault(key, {})[rnd] = parsed
        cpu.setdefault(key, {})[rnd] = parse_cpu(f[4])

    def val(kind, size, mode, field):
        return med(d.get(field) for d in data.get((kind, size, mode), {}).values())

    def ratios(kind, size, mode, field, base="direct"):
        a, b = data.get((kind, size, mode), {}), data.get((kind, size, base), {})
        return [a[r][field] / b[r][field] for r in a
                if r in b and a[r].get(field) is not None and b[r].get(field)]

    def ratio(kind, size, mode, field, base="direct"):
        return med(ratios(kind, size, mode, field, base))

    def rrange(kind, size, mode, field, base="direct"):
        """The median ratio and, with more than one round, the range of the per-round ratios."""
        rs = ratios(kind, size, mode, field, base)
        if not rs:
            return "—"
        if len(rs) == 1:
            return f"{rs[0]:.2f}×"
        return f"{med(rs):.2f}× ({min(rs):.2f}–{max(rs):.2f})"

    def fmt(v, nd=0):
        if v is None:
            return "—"
        return f"{v:,.{nd}f}"

    def sfmt(v):
        return "—" if v is None else f"{round(v, 1) + 0.0:+.1f}"

    load = open("/proc/loadavg").read().split()[:3]
    print("### Airlock Kafka benchmark\n")
    print(f"- {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} CPUs; load at the end "
          f"{' '.join(load)}; Apache Kafka 4.1.1, one broker, everything on 127.0.0.1")
    print(f"- {rounds} round(s), modes in rotating order; throughput runs: {int(records):,} × 1 KiB and "
          f"{int(records_small):,} × 100 B records (ProducerPerformance `--throughput -1`, ConsumerPerformance "
          f"fetch rate without the group join); latency: {int(lat_records):,} × 1 KiB at `--throughput {lat_rate}`")
    print("- direct = perf tool → broker; enc = through the encrypting kafka-inlet → secure channel (direct "
          "route) → kafka-outlet → broker, consumed through the decrypting inlet of another node; clear = the same "
          "path with `--disable-content-encryption` inlets. Figures: medians over the rounds; ratios: medians of "
          "the per-round ratios (in brackets: the lowest and highest per-round ratio).\n")

    print("| metric | direct | enc | enc/direct | clear | clear/direct | target | status |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in ("produce", "consume"):
        for size in (1024, 100):
            label = f"{kind.capitalize()} {'1 KiB' if size == 1024 else '100 B'}"
            for field, unit, nd in (("rps", "records/s", 0), ("mbs", "MB/s", 1)):
                e = ratio(kind, size, "enc", field)
                target, status = "", "info"
                if size == 1024 and field == "rps":
                    target = "enc ≥ 0.85×"
                    status = "—" if e is None else ("PASS" if e >= 0.85 else "FAIL")
                print(f"| {label} [{unit}] | {fmt(val(kind, size, 'direct', field), nd)} | "
                      f"{fmt(val(kind, size, 'enc', field), nd)} | {rrange(kind, size, 'enc', field)} | "
                      f"{fmt(val(kind, size, 'clear', field), nd)} | {rrange(kind, size, 'clear', field)} | "
                      f"{target} | {status} |")
    for field, name in (("p50", "p50"), ("p99", "p99"), ("avg", "avg"), ("p999", "p99.9"),
                        ("steady_avg", "steady-state avg¹"), ("steady_max", "steady-state max¹")):
        e = ratio("latency", 1024, "enc", field)
        target, status = "", "info"
        if field == "p99":
            target = "enc ≤ 1.1×"
            status = "—" if e is None else ("PASS" if e <= 1.1 else "FAIL")
        print(f"| Produce latency at {lat_rate}/s, {name} [ms] | {fmt(val('latency', 1024, 'direct', field), 1)} | "
              f"{fmt(val('latency', 1024, 'enc', field), 1)} | {rrange('latency', 1024, 'enc', field)} | — | — | {target} | {status} |")
    for size in (1024, 100):
        added = {}
        for mode in ("enc", "clear"):
            a, b = data.get(("bytes", size, mode), {}), data.get(("bytes", size, "direct"), {})
            added[mode] = med((a[r]["bytes"] - b[r]["bytes"]) / a[r]["n"] for r in a if r in b)
        direct_per = med(d["bytes"] / d["n"] for d in data.get(("bytes", size, "direct"), {}).values())
        e = added["enc"]
        status = "—" if e is None else ("PASS" if e <= 40 else "FAIL")
        print(f"| Broker log bytes per {'1 KiB' if size == 1024 else '100 B'} record (enc, clear: added) | "
              f"{fmt(direct_per, 1)} | {sfmt(e)} | — | {sfmt(added['clear'])} | — | ≤ 40 B added | {status} |")

    print("\n¹ The tool's own 5-s reports after the first one (avg: weighted by records; max: the largest "
          "window max). The whole-run percentiles above include the first seconds of each perf-tool JVM "
          "(JIT, metadata, connections; for enc the key epoch's directory round trip), when records queue "
          "behind a cold client.")

    # Where the CPU goes: seconds per run and µs per record, per process, for the 1 KiB runs.
    print("\nCPU per 1 KiB record [µs] (utime+stime during the run ÷ records; medians; `client` is the perf "
          "tool's JVM, `producer`/`consumer` the inlet nodes, `outlet` the operator node):\n")
    procs = ("client", "producer", "outlet", "broker", "consumer", "project")
    print("| run | mode | wall [s] | " + " | ".join(procs) + " | sum |")
    print("|---|---|---|" + "---|" * (len(procs) + 1))
    modes_present = [m for m in ("direct", "enc", "clear", "via") if ("produce", 1024, m) in data]
    for kind in ("produce", "consume"):
        for mode in modes_present:
            rows = cpu.get((kind, 1024, mode), {})
            if not rows:
                continue
            n = int(records)
            per = {p: med(c.get(p) for c in rows.values()) for p in procs}
            wall = med(n / d["rps"] for d in data[(kind, 1024, mode)].values() if d["rps"])
            cells = [fmt(None if per[p] is None else per[p] * 1e6 / n, 1) for p in procs]
            total = sum(v for v in per.values() if v is not None) * 1e6 / n
            print(f"| {kind} | {mode} | {fmt(wall, 1)} | " + " | ".join(cells) + f" | {total:.1f} |")

    # The clients' own view (`--print-metrics`, averages over the run's last ≤ 60 s).
    metric_rows = [
        ("produce", "m:request-latency-avg", "Produce request latency avg [ms] (send → response)", 1),
        ("produce", "m:record-queue-time-avg", "Record queue time avg [ms] (in the client's buffer)", 1),
        ("produce", "m:records-per-request-avg", "Records per Produce request", 1),
        ("consume", "m:fetch-latency-avg", "Fetch latency avg [ms] (request → response)", 1),
        ("consume", "m:records-per-request-avg", "Records per Fetch response", 0),
        ("consume", "fetch_ms", "Fetch time of the run [ms] (ConsumerPerformance)", 0),
    ]
    if any(("m:fetch-latency-avg" in d) for d in data.get(("consume", 1024, "direct"), {}).values()):
        print("\nThe clients' own metrics (`--print-metrics`), 1 KiB runs, medians:\n")
        modes = [m for m in ("direct", "enc", "clear", "via") if ("produce", 1024, m) in data]
        print("| metric | " + " | ".join(modes) + " | " + " | ".join(f"{m}/direct" for m in modes[1:]) + " |")
        print("|---|" + "---|" * (2 * len(modes) - 1))
        for kind, field, label, nd in metric_rows:
            cells = [fmt(val(kind, 1024, m, field), nd) for m in modes]
            rs = [rrange(kind, 1024, m, field) for m in modes[1:]]
            print(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(rs) + " |")

    if ("produce", 1024, "via") in data:
        print("\nThrough the project relay (`--via kafka`, the seed's path; the project node forwards the "
              "ciphertext of the end-to-end channel):\n")
        print("| metric | direct | enc (direct route) | via relay | via/direct | via/enc |")
        print("|---|---|---|---|---|---|")
        for kind, field, label, nd in (("produce", "rps", "Produce 1 KiB [records/s]", 0),
                                       ("consume", "rps", "Consume 1 KiB [records/s]", 0),
                                       ("latency", "p50", f"Produce latency at {lat_rate}/s, p50 [ms]", 1),
                                       ("latency", "p99", f"Produce latency at {lat_rate}/s, p99 [ms]", 1),
                                       ("latency", "steady_avg", f"Produce latency at {lat_rate}/s, steady-state avg [ms]", 1)):
            size = 1024
            print(f"| {label} | {fmt(val(kind, size, 'direct', field), nd)} | {fmt(val(kind, size, 'enc', field), nd)} | "
                  f"{fmt(val(kind, size, 'via', field), nd)} | {rrange(kind, size, 'via', field)} | "
                  f"{rrange(kind, size, 'via', field, 'enc')} |")

    # perf: a directory with NAME.sym.txt / NAME.dso.txt per profiled node (or one older perf.txt).
    profiles = []
    if perf_txt and os.path.isdir(perf_txt):
        for name, what in (("producer", "the producer node during one encrypting 1 KiB produce run"),
                           ("consumer", "the consumer node while that topic is consumed through its inlet")):
            sym = os.path.join(perf_txt, name + ".sym.txt")
            if os.path.exists(sym) and os.path.getsize(sym):
                profiles.append((what, sym, os.path.join(perf_txt, name + ".dso.txt"),
                                 os.path.join(perf_txt, name + ".children.txt")))
    elif perf_txt and os.path.exists(perf_txt) and os.path.getsize(perf_txt):
        profiles.append(("the producer node during one encrypting 1 KiB produce run", perf_txt,
                         os.path.join(os.path.dirname(perf_txt), "perf-dso.txt"), ""))
    for what, sym, dso, children in profiles:
        print(f"\n`perf record` on {what}, top symbols (self time), then by object:\n")
        print("```")
        for line in open(sym):
            print(re.sub(r"\s+-\s+-\s*$", "", line.rstrip()))
        if os.path.exists(dso):
            print("--")
            for line in open(dso):
                print(line.rstrip())
        if children and os.path.exists(children) and os.path.getsize(children):
            print("-- inclusive (children, self) of the node's functions:")
            for line in open(children):
                print(line.rstrip()[:150])
        print("```")


if __name__ == "__main__":
    main()
