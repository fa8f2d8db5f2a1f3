#!/usr/bin/env bash
# MongoDB through an airlock portal over a project relay, on the isolated namespaces of the test
# bed (tests/testbed/): the official Node.js driver in the analysis namespace reaches FerretDB in
# the bank namespace only via 127.0.0.1:17017 -> inlet -> project relay -> bank outlet.
#
#   bash bench/mongodb.sh            # full run: 500 round trips, 3 enrollments, 5 restarts (~40 s)
#   QUICK=1 bash bench/mongodb.sh    # validation: 100 round trips, 1 enrollment, 1 restart
#
# Measures in one run (baselines in the same run):
#   1. insertOne+findOne round trip p50/p99 through the portal vs the same client run inside the
#      bank namespace against 127.0.0.1:27017 (direct), and the ratio (ROUNDS client runs per mode,
#      alternating direct/portal, samples pooled, so load drift hits both); plus a cold client run
#      (process start + connect + one round trip), which is what every probe below costs;
#   2. `airlock project enroll TICKET` (start of the command) -> first successful query through a
#      new portal (enroll + node create + policy + tcp-inlet create + the app), fresh identity;
#   3. relay recovery: `node stop project-default; node start project-default`, then time until a
#      query through the portal succeeds again (probe: one query, serverSelectionTimeoutMS 2000,
#      in a loop of at most 60 s), with the relay re-registration and the inlet's new link taken
#      from the node logs.
#
# Knobs (environment): ITERATIONS, WARMUP (both totals over ROUNDS), ROUNDS, COLD_RUNS, ENROLL_RUNS, RECOVERY_RUNS,
# PROBE_TIMEOUT_MS (2000), WAIT_LIMIT (60 s per wait), AIRLOCK (binary, default
# target/release/airlock; copied to the temp dir), BENCH_TESTBED_PREFIX (namespace prefix,
# default bm_ so tests on the default al_ can run at the same time), OUT (also write the table
# there), KEEP_WORK=1 (keep the temp dir: logs, node logs, raw results).
# Table on stdout, progress on stderr; exit 3 when a measurement failed. Needs root, Node.js
# >= 20.19 + npm, Go >= 1.24 for the first FerretDB build (cached in ~/.cache/airlock).
set -euo pipefail
export LC_ALL=C

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
AIRLOCK_SRC=${AIRLOCK:-$ROOT/target/release/airlock}
QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
  ITERATIONS=${ITERATIONS:-100}; WARMUP=${WARMUP:-20}; ROUNDS=${ROUNDS:-2}; COLD_RUNS=${COLD_RUNS:-3}
  ENROLL_RUNS=${ENROLL_RUNS:-1}; RECOVERY_RUNS=${RECOVERY_RUNS:-1}
else
  ITERATIONS=${ITERATIONS:-500}; WARMUP=${WARMUP:-50}; ROUNDS=${ROUNDS:-5}; COLD_RUNS=${COLD_RUNS:-5}
  ENROLL_RUNS=${ENROLL_RUNS:-3}; RECOVERY_RUNS=${RECOVERY_RUNS:-5}
fi
((ROUNDS >= 1 && ITERATIONS >= ROUNDS)) || { echo "need 1 <= ROUNDS <= ITERATIONS" >&2; exit 2; }
PROBE_TIMEOUT_MS=${PROBE_TIMEOUT_MS:-2000}
WAIT_LIMIT=${WAIT_LIMIT:-60}
INLET_PORT=17017      # the analysis app's portal (inside the analysis namespace)
FRESH_PORT_BASE=17020 # fresh identities of measurement 2: 17021, 17022, ...
export TESTBED_PREFIX=${BENCH_TESTBED_PREFIX:-bm_}

log() { printf '[mongodb-bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "needs root (network namespaces)"
for c in ip node npm python3 awk timeout; do command -v "$c" >/dev/null || die "$c not found"; done
# shellcheck source=../tests/testbed/ferretdb.sh
source "$ROOT/tests/testbed/ferretdb.sh"
# shellcheck source=../tests/testbed/mongodb.sh
source "$ROOT/tests/testbed/mongodb.sh"
LAT_JS=$BENCH_DIR/mongodb-latency.js

# ---------------------------------------------------------------- bookkeeping and cleanup
WORK=""
AL=""
NODE_PIDS=()  # airlock node daemons (not our children), from `node list`
ETC_NETNS=()  # /etc/netns/<ns> folders this run wrote
ETC_NETNS_CREATED=0
TB_OWNED=0

alive() { [[ -n $1 && -e /proc/$1 ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

# kill_pid PID CMDLINE_SUBSTRING: TERM, KILL after 3 s; the substring guards against PID reuse.
kill_pid() {
  local pid=$1 want=$2 i
  alive "$pid" || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$want" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 30; i++)); do alive "$pid" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? home pid d
  set +e
  trap - EXIT INT TERM
  if [[ -n $WORK && -d $WORK/home ]]; then
    for home in "$WORK"/home/*; do
      [[ -d $home/nodes ]] && AIRLOCK_HOME=$home timeout 20 "$AL" node delete --all --yes >/dev/null 2>&1
    done
  fi
  for pid in "${NODE_PIDS[@]}"; do kill_pid "$pid" "$AL node run"; done
  ferretdb_stop >/dev/null 2>&1
  ((TB_OWNED)) && testbed_down >/dev/null 2>&1
  for d in "${ETC_NETNS[@]}"; do rm -rf "$d"; done
  ((ETC_NETNS_CREATED)) && rmdir /etc/netns 2>/dev/null
  if [[ -n $WORK && -d $WORK ]]; then
    if [[ ${KEEP_WORK:-0} == 1 ]]; then log "kept work dir $WORK"; else rm -rf "$WORK"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { printf '%s\n' "$EPOCHREALTIME"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'; }
put() { printf '%s %s\n' "$1" "$2" >>"$RES/results.txt"; }

ns_of() {
  case $1 in
    admin) echo "$NS_PROJECT" ;;
    bank) echo "$NS_BANK" ;;
    *) echo "$NS_ANALYSIS" ;; # analysis, fresh1, fresh2, ...
  esac
}
# `as PARTY cmd…` runs airlock inside the party's namespace with the party's own state.
as() {
  local party=$1; shift
  timeout 60 ip netns exec "$(ns_of "$party")" env AIRLOCK_HOME="$WORK/home/$party" "$AL" "$@"
}
# cli PARTY cmd…: `as`, output to the CLI log, non-zero (with the log's tail) on failure.
cli() {
  printf '\n$ [%s] airlock %s\n' "$1" "${*:2}" >>"$LOGS/cli.log"
  if ! as "$@" >>"$LOGS/cli.log" 2>&1; then
    log "airlock ${*:2} ($1) failed: $(tail -n 3 "$LOGS/cli.log" | tr '\n' ' ')"
    return 1
  fi
}
# track_nodes PARTY: remember the PIDs of the party's node daemons (for cleanup by PID).
track_nodes() {
  local pid
  for pid in $(AIRLOCK_HOME="$WORK/home/$1" timeout 20 "$AL" node list --output json 2>/dev/null |
    python3 -c 'import json,sys; print(" ".join(str(n.get("pid") or "") for n in json.load(sys.stdin)))' 2>/dev/null); do
    [[ " ${NODE_PIDS[*]} " == *" $pid "* ]] || NODE_PIDS+=("$pid")
  done
}

# client NS URL ARGS…: the latency client inside NS (bounded by an outer timeout as well).
client() {
  local ns=$1 url=$2; shift 2
  timeout 900 ip netns exec "$ns" env NODE_PATH="$MONGODB_CLIENT_HOME/node_modules" \
    node "$LAT_JS" "$url" "$@" </dev/null
}
# probe NS URL: one insertOne+findOne with a short server selection timeout; 0 when it worked.
probe() {
  printf '%s probe %s %s: ' "$(date +%T.%N | cut -c1-12)" "$1" "$2" >>"$LOGS/probe.log"
  if client "$1" "$2" --iterations 1 --warmup 0 --timeout "$PROBE_TIMEOUT_MS" >>"$LOGS/probe.log" 2>&1; then
    return 0
  fi
  return 1
}
# wait_query NS URL: probes until one succeeds (at most WAIT_LIMIT s); sets ATTEMPTS, OK_AT.
wait_query() {
  local start
  start=$(now); ATTEMPTS=0; OK_AT=""
  while :; do
    ATTEMPTS=$((ATTEMPTS + 1))
    if probe "$1" "$2"; then OK_AT=$(now); return 0; fi
    awk -v s="$start" -v n="$(now)" -v l="$WAIT_LIMIT" 'BEGIN { exit !(n - s >= l) }' && return 1
    sleep 0.05
  done
}

# ---------------------------------------------------------------- set-up
[[ -x $AIRLOCK_SRC ]] || die "airlock binary $AIRLOCK_SRC not found (cargo build --release)"
for ns in "$NS_PROJECT" "$NS_BANK" "$NS_ANALYSIS"; do
  [[ ! -e /run/netns/$ns ]] || die "namespace $ns exists: another bench/mongodb.sh is running (or set BENCH_TESTBED_PREFIX)"
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/airlock-mongodb-bench.XXXXXX")
RES=$WORK/res; LOGS=$WORK/logs
mkdir -p "$RES" "$LOGS" "$WORK/home"
AL=$WORK/airlock
cp "$AIRLOCK_SRC" "$AL"
"$AL" --version >/dev/null 2>&1 || die "the copied airlock binary does not run (rebuild in progress?)"

log "installing the test bed parts (cached in $AIRLOCK_CACHE)"
ferretdb_install >&2 || die "FerretDB install failed"
mongodb_client_install >&2 || die "mongodb driver install failed"

python3 - "$RES/meta.json" "$AL" "$AIRLOCK_SRC" "$MONGODB_CLIENT_HOME" "$ITERATIONS" "$WARMUP" "$ROUNDS" \
  "$COLD_RUNS" "$ENROLL_RUNS" "$RECOVERY_RUNS" "$PROBE_TIMEOUT_MS" "$QUICK" "$TESTBED_PREFIX" \
  "$FERRETDB_VERSION" <<'EOF'
import json, os, subprocess, sys, time
(out, al, src, mhome, iterations, warmup, rounds, cold, enroll, recovery, probe_ms, quick, prefix,
 ferretdb) = sys.argv[1:]
def first_line(*cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except Exception:
        return "?"
try:
    driver = json.load(open(os.path.join(mhome, "node_modules/mongodb/package.json")))["version"]
except Exception:
    driver = "?"
json.dump({
    "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "ncpu": os.cpu_count(),
    "loadavg_start": " ".join(open("/proc/loadavg").read().split()[:3]),
    "airlock_bin": src, "airlock_version": first_line(al, "--version"),
    "node_version": first_line("node", "--version"), "driver": driver, "ferretdb": ferretdb,
    "iterations": iterations, "warmup": warmup, "rounds": rounds, "cold_runs": cold, "enroll_runs": enroll,
    "recovery_runs": recovery, "probe_timeout_ms": probe_ms, "quick": quick, "prefix": prefix,
}, open(out, "w"))
EOF

log "network namespaces ${NS_PROJECT}, ${NS_BANK}, ${NS_ANALYSIS}"
TB_OWNED=1
testbed_up >/dev/null 2>&1 || die "testbed_up failed"
[[ -d /etc/netns ]] || ETC_NETNS_CREATED=1
# Each party resolves the project's public name to the project address on its own link.
for pair in "$NS_PROJECT:127.0.0.1" "$NS_BANK:$PROJECT_IP_FOR_BANK" "$NS_ANALYSIS:$PROJECT_IP_FOR_ANALYSIS"; do
  ns=${pair%%:*}; ip=${pair#*:}
  mkdir -p "/etc/netns/$ns"
  ETC_NETNS+=("/etc/netns/$ns")
  printf '127.0.0.1 localhost\n%s project.airlock.test\n' "$ip" >"/etc/netns/$ns/hosts"
done

log "project, bank (FerretDB, node, relay mongodb, outlet), analysis (node, inlet via mongodb)"
cli admin project create --listen 0.0.0.0:4000 --public-address project.airlock.test:4000 || die "project create"
track_nodes admin
BANK_TICKET=$(as admin project ticket --usage-count 1 --expires-in 30m --attribute mongodb-outlet=true --relay mongodb) ||
  die "bank ticket"
ANALYSIS_TICKET=$(as admin project ticket --usage-count 1 --expires-in 30m --attribute mongodb-inlet=true) ||
  die "analysis ticket"
ferretdb_start "$NS_BANK" 127.0.0.1:27017 "$WORK/ferretdb" >/dev/null 2>&1 || die "FerretDB did not start"
cli bank project enroll "$BANK_TICKET" || die "bank enroll"
cli bank node create || die "bank node"
track_nodes bank
cli bank relay create mongodb || die "bank relay"
cli bank policy create --resource-type tcp-outlet --expression '(= subject.mongodb-inlet "true")' || die "bank policy"
cli bank tcp-outlet create --to 127.0.0.1:27017 || die "bank outlet"
cli analysis project enroll "$ANALYSIS_TICKET" || die "analysis enroll"
cli analysis node create || die "analysis node"
track_nodes analysis
cli analysis policy create --resource-type tcp-inlet --expression '(= subject.mongodb-outlet "true")' || die "analysis policy"
cli analysis tcp-inlet create --from "127.0.0.1:$INLET_PORT" --via mongodb || die "analysis inlet"
PORTAL_URL=mongodb://127.0.0.1:$INLET_PORT/
DIRECT_URL=mongodb://127.0.0.1:27017/
if testbed_tcp_connect "$NS_ANALYSIS" "$BANK_IP" 27017 2 2>/dev/null; then die "analysis reaches the bank database directly"; fi
wait_query "$NS_ANALYSIS" "$PORTAL_URL" || die "no query through the portal after ${WAIT_LIMIT} s (see $LOGS/probe.log)"
log "portal works; airlock node pids ${NODE_PIDS[*]}; load $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- 1. round-trip latency
log "round trips: $WARMUP warm-up + $ITERATIONS measured per mode, in $ROUNDS alternating rounds"
for ((r = 1; r <= ROUNDS; r++)); do
  # this round's share of the totals (the first rounds take the remainder)
  it=$((ITERATIONS / ROUNDS + (r <= ITERATIONS % ROUNDS ? 1 : 0)))
  wu=$((WARMUP / ROUNDS + (r <= WARMUP % ROUNDS ? 1 : 0)))
  for mode in direct portal; do
    if [[ $mode == direct ]]; then ns=$NS_BANK url=$DIRECT_URL; else ns=$NS_ANALYSIS url=$PORTAL_URL; fi
    client "$ns" "$url" --iterations "$it" --warmup "$wu" --samples "$RES/samples-$mode-$r.txt" \
      >"$RES/latency-$mode-$r.json" 2>>"$LOGS/latency.err" ||
      log "latency $mode round $r failed: $(tail -n 1 "$LOGS/latency.err")"
  done
done
log "cold client runs ($COLD_RUNS each, alternating)"
for ((i = 1; i <= COLD_RUNS; i++)); do
  for mode in direct portal; do
    if [[ $mode == direct ]]; then ns=$NS_BANK url=$DIRECT_URL; else ns=$NS_ANALYSIS url=$PORTAL_URL; fi
    t0=$(now)
    if probe "$ns" "$url"; then put "cold_$mode" "$(sub "$t0" "$(now)")"; else log "cold run $mode failed"; fi
  done
done

# ---------------------------------------------------------------- 2. enroll -> first query
for ((k = 1; k <= ENROLL_RUNS; k++)); do
  party=fresh$k port=$((FRESH_PORT_BASE + k))
  ticket=$(as admin project ticket --usage-count 1 --expires-in 10m --attribute mongodb-inlet=true) ||
    { log "ticket for $party failed"; continue; }
  log "enroll -> first query, run $k ($party, inlet 127.0.0.1:$port)"
  t0=$(now)
  cli "$party" project enroll "$ticket" || continue
  t1=$(now)
  cli "$party" node create || continue
  t2=$(now)
  track_nodes "$party"
  cli "$party" policy create --resource-type tcp-inlet --expression '(= subject.mongodb-outlet "true")' || continue
  t3=$(now)
  cli "$party" tcp-inlet create --from "127.0.0.1:$port" --via mongodb || continue
  t4=$(now)
  if wait_query "$NS_ANALYSIS" "mongodb://127.0.0.1:$port/"; then
    t5=$OK_AT
    put enroll_total "$(sub "$t0" "$t5")"
    put enroll_step_enroll "$(sub "$t0" "$t1")"
    put enroll_step_node "$(sub "$t1" "$t2")"
    put enroll_step_policy "$(sub "$t2" "$t3")"
    put enroll_step_inlet "$(sub "$t3" "$t4")"
    put enroll_step_query "$(sub "$t4" "$t5")"
    put enroll_attempts "$ATTEMPTS"
    log "  $(sub "$t0" "$t5") s ($ATTEMPTS probe(s))"
  else
    log "  no successful query within ${WAIT_LIMIT} s"
  fi
  # Only one measured inlet at a time: the fresh node goes away again (not timed).
  cli "$party" node delete --all --yes || true
done

# ---------------------------------------------------------------- 3. relay recovery
for ((k = 1; k <= RECOVERY_RUNS; k++)); do
  wait_query "$NS_ANALYSIS" "$PORTAL_URL" || { log "portal not working before restart $k"; break; }
  sleep 1
  log "relay recovery, run $k: node stop project-default; node start project-default"
  t0=$(now)
  cli admin node stop project-default || break
  t1=$(now)
  cli admin node start project-default || break
  t2=$(now)
  # Probing starts at once (like an app that retries); PIDs are collected afterwards.
  if wait_query "$NS_ANALYSIS" "$PORTAL_URL"; then
    t3=$OK_AT
    put rec_total "$(sub "$t1" "$t3")"
    put rec_stop "$(sub "$t0" "$t1")"
    put rec_start "$(sub "$t1" "$t2")"
    put rec_attempts "$ATTEMPTS"
    put rec_window "$t1 $t3"
    log "  $(sub "$t1" "$t3") s after node start ($ATTEMPTS probe(s))"
  else
    log "  the portal did not recover within ${WAIT_LIMIT} s"
  fi
  track_nodes admin
done

# ---------------------------------------------------------------- report
cp "$WORK"/home/bank/nodes/*/node.log "$RES/bank-node.log" 2>/dev/null || true
cp "$WORK"/home/analysis/nodes/*/node.log "$RES/analysis-node.log" 2>/dev/null || true
cp "$WORK"/home/admin/nodes/*/node.log "$RES/project-node.log" 2>/dev/null || true
report_rc=0
python3 - "$RES" >"$WORK/table.md" <<'EOF' || report_rc=$?
import json, os, statistics, sys
from datetime import datetime, timezone

res = sys.argv[1]
def load(name):
    try:
        with open(os.path.join(res, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
meta = load("meta.json") or {}
vals = {}
try:
    for line in open(os.path.join(res, "results.txt")):
        k, v = line.rstrip("\n").split(" ", 1)
        vals.setdefault(k, []).append(v)
except OSError:
    pass
def nums(k):
    return [float(x) for x in vals.get(k, [])]
def med(k):
    xs = nums(k)
    return statistics.median(xs) if xs else None

# Log events (UTC timestamps at the start of each line) within each recovery window.
def events(logname, needle):
    out = []
    try:
        for line in open(os.path.join(res, logname)):
            if needle in line:
                ts = line.split(" ", 1)[0].rstrip("Z")
                try:
                    t = datetime.fromisoformat(ts).replace(tzinfo=timezone.utc).timestamp()
                except ValueError:
                    continue
                out.append(t)
    except OSError:
        pass
    return out
relay_up = events("bank-node.log", "relay registered")
link_up = events("analysis-node.log", "inlet connected to its outlet")
rec_relay, rec_link = [], []
for w in vals.get("rec_window", []):
    a, b = (float(x) for x in w.split())
    r = [t - a for t in relay_up if a <= t <= b]
    l = [t - a for t in link_up if a <= t <= b]
    rec_relay.append(r[0] if r else None)
    rec_link.append(l[0] if l else None)

def fmt(v, d):
    return "error" if v is None else "%.*f" % (d, v)
def runs(xs, d):
    return ", ".join("?" if x is None else "%.*f" % (d, x) for x in xs)

rows, errors = [], []
def row(metric, portal, direct, digits, note="", ratio=True, required=True):
    rat = portal / direct if (ratio and portal is not None and direct) else None
    if required and (portal is None or (ratio and direct is None)):
        errors.append(metric)
    rows.append([metric, fmt(portal, digits),
                 fmt(direct, digits) if ratio else "n/a",
                 ("%.2f×" % rat) if rat is not None else ("error" if ratio else "n/a"), note])

# Round trips: the measured samples of all rounds of a mode, pooled; nearest-rank percentiles.
# A mode with a failed round counts as failed.
def pooled(mode):
    xs = []
    for r in range(1, int(meta.get("rounds", 1)) + 1):
        try:
            with open(os.path.join(res, "samples-%s-%d.txt" % (mode, r))) as f:
                got = [float(x) for x in f.read().split()]
        except (OSError, ValueError):
            return []
        if not got:
            return []
        xs += got
    return sorted(xs)
def pct(xs, p):
    if not xs:
        return None
    import math
    return xs[min(len(xs), max(1, math.ceil(p * len(xs)))) - 1]
lat = {m: pooled(m) for m in ("portal", "direct")}
row("insertOne+findOne round trip, p50 [µs]", pct(lat["portal"], 0.5), pct(lat["direct"], 0.5), 0,
    "one connection per run; n = %d / %d measured (%s rounds, %s warm-up in total)" % (
        len(lat["portal"]), len(lat["direct"]), meta.get("rounds", "?"), meta.get("warmup", "?")))
row("insertOne+findOne round trip, p99 [µs]", pct(lat["portal"], 0.99), pct(lat["direct"], 0.99), 0, "")
cold_p, cold_d = med("cold_portal"), med("cold_direct")
row("Cold client run (node start + connect + 1 round trip), median [s]", cold_p, cold_d, 3,
    "what one probe costs below; portal runs: %s" % runs(nums("cold_portal"), 2))

et = nums("enroll_total")
row("Enroll → first successful query through a new portal, median [s]", med("enroll_total"), None, 2,
    "fresh identity; runs: %s" % (runs(et, 2) or "none"), ratio=False)
for key, label in (("enroll", "`project enroll`"), ("node", "`node create`"), ("policy", "`policy create`"),
                   ("inlet", "`tcp-inlet create --via`"), ("query", "first successful app query")):
    extra = ""
    if key == "query":
        extra = "probes: %s" % (", ".join(vals.get("enroll_attempts", [])) or "?")
    row("  ↳ %s [s]" % label, med("enroll_step_" + key), None, 3, extra, ratio=False, required=False)

rt = nums("rec_total")
row("Relay recovery: `node start project-default` → first successful query, median [s]",
    med("rec_total"), None, 2, "runs: %s; probes: %s" % (runs(rt, 2) or "none",
                                                         ", ".join(vals.get("rec_attempts", [])) or "?"),
    ratio=False)
row("  ↳ `node stop` / `node start` commands [s]", med("rec_stop"), None, 3,
    "start: %s" % runs(nums("rec_start"), 3), ratio=False, required=False)
def medn(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None
row("  ↳ bank relay registered again (bank node log) [s]", medn(rec_relay), None, 2,
    "after node start; runs: %s" % runs(rec_relay, 2), ratio=False, required=False)
row("  ↳ inlet link re-established (analysis node log) [s]", medn(rec_link), None, 2,
    "after node start; runs: %s" % runs(rec_link, 2), ratio=False, required=False)

head = ["metric", "through portal (relay)", "direct (bank ns)", "portal/direct", "note"]
w = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
line = lambda cells: "| " + " | ".join(str(c).ljust(x) for c, x in zip(cells, w)) + " |"
print("### Airlock MongoDB benchmark (FerretDB through a project relay)")
print()
print("- %s; %s CPUs; load average at start: %s, at end: %s" % (
    meta.get("date", "?"), meta.get("ncpu", "?"), meta.get("loadavg_start", "?"),
    " ".join(open("/proc/loadavg").read().split()[:3])))
print("- airlock: `%s`; %s; Node.js %s, driver mongodb %s; FerretDB %s (SQLite)" % (
    meta.get("airlock_bin", "?"), meta.get("airlock_version", "?"), meta.get("node_version", "?"),
    meta.get("driver", "?"), meta.get("ferretdb", "?")))
print("- %s round trips (after %s warm-up) per mode in %s rounds; %s cold runs; %s enrollment(s); %s restart(s); probe "
      "serverSelectionTimeoutMS %s; namespaces %s*; QUICK=%s" % (
    meta.get("iterations", "?"), meta.get("warmup", "?"), meta.get("rounds", "?"), meta.get("cold_runs", "?"),
    meta.get("enroll_runs", "?"), meta.get("recovery_runs", "?"), meta.get("probe_timeout_ms", "?"),
    meta.get("prefix", "?"), meta.get("quick", "?")))
print()
print(line(head))
print("|" + "|".join("-" * (x + 2) for x in w) + "|")
for r in rows:
    print(line(r))
if errors:
    print()
    print("Measurements that failed: " + "; ".join(errors))
    sys.exit(3)
EOF
[[ -n ${OUT:-} ]] && cp "$WORK/table.md" "$OUT"
cat "$WORK/table.md"
exit "$report_rc"
