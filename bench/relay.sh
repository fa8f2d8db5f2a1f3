#!/usr/bin/env bash
# What a project relay costs: 64-byte round trips and connection set-up through
#   raw loopback  (client -> echo server)
#   direct portal (client -> inlet -> secure channel -> outlet -> echo)
#   via relay     (client -> inlet -> project node relay -> outlet -> echo; the project node
#                  forwards ciphertext of the end-to-end channel inside its own channels)
# all on 127.0.0.1 in one run, so the ratios compare like with like.
#
#   bash bench/relay.sh              # 3000 round trips, 200 set-ups per path
#   QUICK=1 bash bench/relay.sh      # 500 / 50
#
# Knobs: RTT_COUNT, SETUP_COUNT, PORT_BASE (default 19100, uses PORT_BASE..+4), AIRLOCK (binary,
# default target/release/airlock). Markdown table on stdout, progress on stderr.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
AL=${AIRLOCK:-$ROOT/target/release/airlock}
if [[ ${QUICK:-0} == 1 ]]; then RTT_COUNT=${RTT_COUNT:-500}; SETUP_COUNT=${SETUP_COUNT:-50}
else RTT_COUNT=${RTT_COUNT:-3000}; SETUP_COUNT=${SETUP_COUNT:-200}; fi
P=${PORT_BASE:-19100}
PROJECT_PORT=$P ECHO_PORT=$((P + 1)) RELAY_INLET=$((P + 2)) DIRECT_INLET=$((P + 3))
IPERF_PORT=$((P + 5)) RELAY_IPERF=$((P + 6)) DIRECT_IPERF=$((P + 7))
DURATION=${DURATION:-$([[ ${QUICK:-0} == 1 ]] && echo 2 || echo 5)}
log() { printf '[relay-bench %s] %s\n' "$(date +%T)" "$*" >&2; }
[[ -x $AL ]] || { log "build first: cargo build --release"; exit 1; }

WORK=$(mktemp -d /tmp/airlock-relay-bench.XXXXXX)
ECHO_PID="" IPERF_PID=""
cleanup() {
    set +e
    for p in analysis bank admin; do
        [[ -d $WORK/$p ]] && AIRLOCK_HOME=$WORK/$p timeout 20 "$AL" node delete --all --yes >/dev/null 2>&1
    done
    [[ -n $ECHO_PID ]] && kill "$ECHO_PID" 2>/dev/null && wait "$ECHO_PID" 2>/dev/null
    [[ -n $IPERF_PID ]] && kill "$IPERF_PID" 2>/dev/null && wait "$IPERF_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
as() { local party=$1; shift; AIRLOCK_HOME=$WORK/$party "$AL" "$@"; }

python3 "$BENCH_DIR/latency.py" serve --port "$ECHO_PORT" </dev/null >/dev/null 2>&1 &
ECHO_PID=$!
python3 "$BENCH_DIR/procmon.py" wait-listen "$ECHO_PORT" 10 || { log "echo server did not start"; exit 1; }
command -v iperf3 >/dev/null || { log "iperf3 is needed (apt-get install iperf3)"; exit 1; }
iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT" </dev/null >/dev/null 2>&1 &
IPERF_PID=$!
python3 "$BENCH_DIR/procmon.py" wait-listen "$IPERF_PORT" 10 || { log "iperf3 server did not start"; exit 1; }

log "project node, bank (relay r1 + outlet to the echo server), analysis (two inlets)"
as admin project create --listen "127.0.0.1:$PROJECT_PORT" >/dev/null 2>&1
bank_ticket=$(as admin project ticket --relay r1)
analysis_ticket=$(as admin project ticket)
as bank project enroll "$bank_ticket" >/dev/null 2>&1
as bank node create >/dev/null 2>&1
as bank relay create r1 >/dev/null 2>&1
as bank tcp-outlet create --to "127.0.0.1:$ECHO_PORT" >/dev/null 2>&1
as bank tcp-outlet create --from iperf --to "127.0.0.1:$IPERF_PORT" >/dev/null 2>&1
as analysis project enroll "$analysis_ticket" >/dev/null 2>&1
as analysis node create >/dev/null 2>&1
as analysis tcp-inlet create --from "127.0.0.1:$RELAY_INLET" --via r1 >/dev/null 2>&1
bank_port=$(as bank node show --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["tcp_listen"].rsplit(":",1)[1])')
as analysis tcp-inlet create --from "127.0.0.1:$DIRECT_INLET" \
    --to "/ip4/127.0.0.1/tcp/$bank_port/secure/api/service/outlet" >/dev/null 2>&1
as analysis tcp-inlet create --from "127.0.0.1:$RELAY_IPERF" --via r1 --to iperf >/dev/null 2>&1
as analysis tcp-inlet create --from "127.0.0.1:$DIRECT_IPERF" \
    --to "/ip4/127.0.0.1/tcp/$bank_port/secure/api/service/iperf" >/dev/null 2>&1

declare -A RTT SETUP GBPS
# iperf3 single stream, client -> server; Gbit/s received by the server. With PERF=1 the relay
# run is profiled (perf record of every airlock node process; report on stderr; PERF_OUT=FILE
# keeps the recording; PERF_CG=dwarf for call chains through code built without frame pointers).
gbps() { iperf3 -c 127.0.0.1 -p "$1" -t "$DURATION" --json | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9, 2))'; }
for path in raw direct relay; do
    case $path in raw) port=$IPERF_PORT ;; direct) port=$DIRECT_IPERF ;; relay) port=$RELAY_IPERF ;; esac
    log "$path: iperf3 single stream for $DURATION s (port $port)"
    if [[ $path == relay && ${PERF:-0} == 1 ]]; then
        perf record -q --call-graph "${PERF_CG:-fp}" -F 499 -p "$(pgrep -d, -f "node run")" -o "$WORK/perf.data" -- sleep "$DURATION" >/dev/null 2>&1 &
        PERF_PID=$!
    fi
    GBPS[$path]=$(gbps "$port")
    if [[ -n ${PERF_PID:-} ]]; then wait "$PERF_PID" || true; PERF_PID=""
        [[ -n ${PERF_OUT:-} ]] && cp "$WORK/perf.data" "$PERF_OUT"
        perf script -i "$WORK/perf.data" -F pid,ip,sym 2>/dev/null | python3 "$BENCH_DIR/perf_by_process.py" \
            "project=$(as admin node show --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')" \
            "bank(outlet)=$(as bank node show --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')" \
            "analysis(inlet)=$(as analysis node show --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')" >&2
    fi
done
for path in raw direct relay; do
    case $path in raw) port=$ECHO_PORT ;; direct) port=$DIRECT_INLET ;; relay) port=$RELAY_INLET ;; esac
    log "$path: $RTT_COUNT round trips, $SETUP_COUNT set-ups (port $port)"
    RTT[$path]=$(python3 "$BENCH_DIR/latency.py" rtt --port "$port" --count "$RTT_COUNT")
    SETUP[$path]=$(python3 "$BENCH_DIR/latency.py" setup --port "$port" --count "$SETUP_COUNT")
done

python3 - "${RTT[raw]}" "${RTT[direct]}" "${RTT[relay]}" "${SETUP[raw]}" "${SETUP[direct]}" "${SETUP[relay]}" \
    "$RTT_COUNT" "$SETUP_COUNT" "${GBPS[raw]}" "${GBPS[direct]}" "${GBPS[relay]}" <<'EOF'
import json, os, sys, time
rr, rd, rl, sr, sd, sl = (json.loads(a) for a in sys.argv[1:7])
n_rtt, n_setup = sys.argv[7:9]
gr, gd, gl = map(float, sys.argv[9:12])
load = open("/proc/loadavg").read().split()[:3]
print(f"### Airlock relay benchmark\n\n- {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; "
      f"{os.cpu_count()} CPUs; load {' '.join(load)}; {n_rtt} round trips of 64 B, {n_setup} set-ups per path\n")
print("| metric | raw loopback | direct portal | via relay | relay/direct | relay − direct |")
print("|---|---|---|---|---|---|")
for name, key, unit, r, d, l in [
    ("Round trip 64 B, p50", "p50", "µs", rr, rd, rl),
    ("Round trip 64 B, p99", "p99", "µs", rr, rd, rl),
    ("Connection set-up, p50", "p50", "ms", sr, sd, sl),
    ("Connection set-up, p99", "p99", "ms", sr, sd, sl),
]:
    a, b, c = r[key], d[key], l[key]
    fmt = (lambda v: f"{v:.0f}") if unit == "µs" else (lambda v: f"{v:.3f}")
    print(f"| {name} [{unit}] | {fmt(a)} | {fmt(b)} | {fmt(c)} | {c / b:.2f}× | {fmt(c - b)} |")
print(f"| Throughput, single stream [Gbit/s] | {gr:.2f} | {gd:.2f} | {gl:.2f} | {gl / gd:.2f}× | {gl - gd:.2f} |")
EOF
