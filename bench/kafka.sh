#!/usr/bin/env bash
# Kafka portal benchmark: the stock Kafka perf tools (ProducerPerformance / ConsumerPerformance,
# what bin/kafka-producer-perf-test.sh and bin/kafka-consumer-perf-test.sh run) against one
# Apache Kafka 4.1.1 broker, all on 127.0.0.1, in one run:
#
#   direct   perf tool -> broker
#   enc      perf tool -> producer node's encrypting kafka-inlet -> secure channel (direct route,
#            /ip4/127.0.0.1/tcp/PORT/secure/api) -> operator node's kafka-outlet -> broker;
#            consumed through the consumer node's decrypting kafka-inlet (same kind of route)
#   clear    the same path with inlets made with --disable-content-encryption (proxy cost without
#            the crypto)
#   via      (VIA=1) like enc, but the inlets reach the outlet through the project relay `kafka`
#            (--via kafka, the seed's path): reported separately, 1 KiB only
#
#   bash bench/kafka.sh                       # 200k x 1 KiB, 500k x 100 B, 3 rounds (~13 min)
#   QUICK=1 bash bench/kafka.sh               # validation: small counts, 1 round (~4 min)
#   ROUNDS=5 RECORDS=100000 bash bench/kafka.sh
#
# Every measurement is repeated in ROUNDS rounds; within a round the modes run one after the other
# in a rotating order (A B C, B C A, ...), and each figure in the table is the median over the
# rounds; ratios are medians of the per-round ratios (mode / direct of the same round), so load
# drift from other work on the machine hits both sides of a ratio alike.
#
# Knobs: RECORDS (1 KiB records per produce/consume run, default 200000), RECORDS_SMALL (100-byte
# records, default 500000), ROUNDS (3), LAT_RECORDS (records of the fixed-rate latency run, 40000),
# LAT_RATE (2000 records/s), WARMUP (records per mode before round 1, 20000), VIA (1: also the relay
# path), PERF (1: `perf record` on the producer node during one extra encrypting produce run and
# on the consumer node while that topic is consumed, if perf is installed; PERF_CALL_GRAPH: perf's
# --call-graph, default dwarf: the release binary has no frame pointers), PORT_BASE (18900; uses
# PORT_BASE..+63 on 127.0.0.1), AIRLOCK (binary; default $AIRLOCK_BIN or target/release/airlock),
# OUT (also write the table there), KEEP_WORK=1 (keep the temp dir: raw perf-tool output, perf
# data, the broker's data: 3-4 GB for a full run).
#
# Markdown table on stdout, progress on stderr. Everything started here (broker, nodes, perf) is
# stopped by PID / `node delete` on exit, including on errors and Ctrl-C. Needs Java 17 and the Kafka
# jars of the test bed (tests/testbed/kafka.sh: kafka_install, cached; it installs Java with apt-get
# when missing), python3.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
AL=${AIRLOCK:-${AIRLOCK_BIN:-$ROOT/target/release/airlock}}
if [[ ${QUICK:-0} == 1 ]]; then
    RECORDS=${RECORDS:-20000} RECORDS_SMALL=${RECORDS_SMALL:-50000} ROUNDS=${ROUNDS:-1}
    LAT_RECORDS=${LAT_RECORDS:-4000} WARMUP=${WARMUP:-5000}
else
    RECORDS=${RECORDS:-200000} RECORDS_SMALL=${RECORDS_SMALL:-500000} ROUNDS=${ROUNDS:-3}
    LAT_RECORDS=${LAT_RECORDS:-40000} WARMUP=${WARMUP:-20000}
fi
LAT_RATE=${LAT_RATE:-2000}
VIA=${VIA:-1}
PERF=${PERF:-1}
PERF_CALL_GRAPH=${PERF_CALL_GRAPH:-dwarf}
P=${PORT_BASE:-18900}
PROJECT_PORT=$P BROKER_PORT=$((P + 1)) CONTROLLER_PORT=$((P + 2))
# Inlets: bootstrap port, brokers on the next two.
declare -A PIN=([enc]=$((P + 10)) [clear]=$((P + 20)) [via]=$((P + 30)))
declare -A CIN=([enc]=$((P + 40)) [clear]=$((P + 50)) [via]=$((P + 60)))

log() { printf '[kafka-bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }
[[ -x $AL ]] || die "no airlock binary at $AL (build first: cargo build --release, or set AIRLOCK=...)"
# The load is ours to keep low: other work shares the machine.
[[ $(nice) -ge 5 ]] || renice -n 5 $$ >/dev/null

export TESTBED_PREFIX=${TESTBED_PREFIX:-kb_}
# shellcheck source=../tests/testbed/kafka.sh
source "$ROOT/tests/testbed/kafka.sh"

WORK=$(mktemp -d /tmp/airlock-kafka-bench.XXXXXX)
_KAFKA_TOOL_DIR=$WORK/tools && mkdir -p "$_KAFKA_TOOL_DIR"
PERF_PID=""
cleanup() {
    set +e
    [[ -n $PERF_PID ]] && kill -INT "$PERF_PID" 2>/dev/null && wait "$PERF_PID" 2>/dev/null
    for p in consumer producer operator admin; do
        [[ -d $WORK/$p ]] && AIRLOCK_HOME=$WORK/$p timeout 20 "$AL" node delete --all --yes >/dev/null 2>&1
    done
    kafka_stop >/dev/null 2>&1
    if [[ -n ${KEEP_WORK:-} ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT
as() { local party=$1; shift; AIRLOCK_HOME=$WORK/$party "$AL" "$@"; }
node_field() { as "$1" node show --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"; }

ports=("$PROJECT_PORT" "$BROKER_PORT" "$CONTROLLER_PORT")
for m in enc clear via; do ports+=("${PIN[$m]}" $((PIN[$m] + 1)) $((PIN[$m] + 2)) "${CIN[$m]}" $((CIN[$m] + 1)) $((CIN[$m] + 2))); done
python3 "$BENCH_DIR/procmon.py" port-free "${ports[@]}" || die "a port of PORT_BASE=$P..$((P + 63)) is taken (set PORT_BASE)"

log "Kafka $KAFKA_VERSION (cached), broker on 127.0.0.1:$BROKER_PORT"
kafka_install >/dev/null || die "kafka_install"
kafka_start "" 127.0.0.1 bench --port "$BROKER_PORT" --controller-port "$CONTROLLER_PORT" --dir "$WORK/kafka" \
    --xmx "${BROKER_XMX:-512m}" 2>"$WORK/kafka-start.log" || { cat "$WORK/kafka-start.log" >&2; die "kafka_start"; }
BROKER=127.0.0.1:$BROKER_PORT

log "project, operator node (relay kafka, kafka-outlet), consumer and producer nodes (inlets)"
as admin project create --listen "127.0.0.1:$PROJECT_PORT" >/dev/null 2>&1 || die "project create"
op_ticket=$(as admin project ticket --usage-count 1 --expires-in 10m --attribute kafka-outlet=true --relay kafka)
pr_ticket=$(as admin project ticket --usage-count 1 --expires-in 10m --attribute kafka-inlet=true --attribute kafka-producer=true)
co_ticket=$(as admin project ticket --usage-count 1 --expires-in 10m --attribute kafka-inlet=true --attribute kafka-consumer=true)
as operator project enroll "$op_ticket" >/dev/null 2>&1 || die "operator enroll"
as operator node create >/dev/null 2>&1 || die "operator node"
as operator relay create kafka >/dev/null 2>&1 || die "operator relay"
as operator policy create --resource-type kafka-outlet --expression '(= subject.kafka-inlet "true")' >/dev/null || die "kafka-outlet policy"
as operator kafka-outlet create --bootstrap-server "$BROKER" >/dev/null || die "kafka-outlet create"
OP_ROUTE="/ip4/127.0.0.1/tcp/$(node_field operator tcp_listen | sed 's/.*://')/secure/api"
for party in consumer producer; do
    case $party in consumer) t=$co_ticket ;; producer) t=$pr_ticket ;; esac
    as $party project enroll "$t" >/dev/null 2>&1 || die "$party enroll"
    as $party node create >/dev/null 2>&1 || die "$party node"
    as $party policy create --resource-type kafka-inlet --expression '(= subject.kafka-outlet "true")' >/dev/null || die "$party policy"
    as $party policy create --resource-type kafka-consumer --expression '(= subject.kafka-consumer "true")' >/dev/null || die "$party policy"
    as $party policy create --resource-type kafka-producer --expression '(= subject.kafka-producer "true")' >/dev/null || die "$party policy"
done
MODES=(enc clear)
[[ $VIA == 1 ]] && MODES+=(via)
# Consumers first: a producer grants its keys to the consumers there are when it makes them.
for party in consumer producer; do
    for m in "${MODES[@]}"; do
        if [[ $party == consumer ]]; then port=${CIN[$m]}; else port=${PIN[$m]}; fi
        route=(--to "$OP_ROUTE")
        [[ $m == via ]] && route=(--via kafka)
        extra=()
        [[ $m == clear ]] && extra=(--disable-content-encryption)
        as $party kafka-inlet create --name "$m" --from "127.0.0.1:$port" --brokers-port-range "$((port + 1))-$((port + 2))" \
            "${route[@]}" "${extra[@]}" --wait >/dev/null || die "$party kafka-inlet $m"
    done
done
declare -A PID=([broker]=$KAFKA_PID [outlet]=$(node_field operator pid) [producer]=$(node_field producer pid)
    [consumer]=$(node_field consumer pid) [project]=$(node_field admin pid))
log "pids: broker ${PID[broker]}, outlet node ${PID[outlet]}, producer node ${PID[producer]}, consumer node ${PID[consumer]}, project node ${PID[project]}"
PROCS=(client producer outlet broker consumer project)

RES=$WORK/results.tsv
: >"$RES"
JAVA=(java -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$KAFKA_SRC/log4j2-tools.properties" -cp "$KAFKA_LIB/*")
TICKS=$(getconf CLK_TCK)
# `run_tool OUTFILE CMD...`: CMD under `timeout`; the CPU seconds of the command itself (wait4
# rusage: the JVM) and of the long-lived processes (from /proc) during the run are appended to
# OUTFILE.cpu as "name seconds" lines.
run_tool() {
    local out=$1 before after rc=0
    shift
    before=$(for p in "${PROCS[@]:1}"; do python3 "$BENCH_DIR/procmon.py" ticks "${PID[$p]}"; done | tr '\n' ' ')
    python3 -c '
import os, subprocess, sys
p = subprocess.Popen(sys.argv[2:], stdout=open(sys.argv[1], "w"), stderr=open(sys.argv[1] + ".err", "w"))
_, status, ru = os.wait4(p.pid, 0)
open(sys.argv[1] + ".client", "w").write("%.3f\n" % (ru.ru_utime + ru.ru_stime))
sys.exit(os.waitstatus_to_exitcode(status))' "$out" timeout -k 5 "${TOOL_TIMEOUT:-600}" "${JAVA[@]}" "$@" || rc=$?
    after=$(for p in "${PROCS[@]:1}"; do python3 "$BENCH_DIR/procmon.py" ticks "${PID[$p]}"; done | tr '\n' ' ')
    python3 - "$out" "$TICKS" "$before" "$after" "${PROCS[@]}" <<'EOF'
import sys
out, hz, before, after, names = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split(), sys.argv[5:]
lines = ["client " + open(out + ".client").read().strip()]
for n, b, a in zip(names[1:], before, after):
    lines.append("%s %.3f" % (n, (int(a) - int(b)) / hz))
open(out + ".cpu", "w").write("\n".join(lines) + "\n")
EOF
    if [[ $rc != 0 ]]; then
        log "$* failed (exit $rc):"
        grep -v '^\s*at ' "$out.err" | tail -n 8 >&2
    fi
    return $rc
}
bootstrap() { # KIND(p|c) MODE
    if [[ $2 == direct ]]; then echo "$BROKER"
    elif [[ $1 == p ]]; then echo "127.0.0.1:${PIN[$2]}"
    else echo "127.0.0.1:${CIN[$2]}"; fi
}
# produce MODE TOPIC N SIZE RATE -> RAW file; prints the raw file name
produce() {
    local mode=$1 topic=$2 n=$3 size=$4 rate=$5 out=$WORK/raw/produce-$2
    run_tool "$out" org.apache.kafka.tools.ProducerPerformance --topic "$topic" --num-records "$n" \
        --record-size "$size" --throughput "$rate" --producer-props "bootstrap.servers=$(bootstrap p "$mode")" \
        client.id="bench-$mode" --print-metrics || return 1
    grep -q 'records sent,' "$out" || { log "no summary from the producer for $topic"; tail -3 "$out" >&2; return 1; }
}
consume() {
    local mode=$1 topic=$2 n=$3 out=$WORK/raw/consume-$2
    run_tool "$out" org.apache.kafka.tools.ConsumerPerformance --topic "$topic" --messages "$n" \
        --bootstrap-server "$(bootstrap c "$mode")" --group "g-$topic" --timeout 30000 --hide-header --print-metrics || return 1
}
seg_bytes() { # TOPIC: the size of the partition's log segments at the broker
    local s=0 f
    for f in "$KAFKA_DATA_DIR/$1-0"/*.log; do s=$((s + $(stat -c %s "$f"))); done
    echo $s
}
record() { printf '%s\n' "$*" >>"$RES"; } # kind size mode round file|value
mkdir -p "$WORK/raw"

log "warm-up: $WARMUP records of 1 KiB per mode (not counted)"
for m in direct "${MODES[@]}"; do
    produce "$m" "warm-$m" "$WARMUP" 1024 -1 || die "warm-up produce $m"
    consume "$m" "warm-$m" "$WARMUP" || die "warm-up consume $m"
done

ALL=(direct "${MODES[@]}")
for ((r = 1; r <= ROUNDS; r++)); do
    # Rotate the order each round.
    k=$(((r - 1) % ${#ALL[@]}))
    order=("${ALL[@]:k}" "${ALL[@]:0:k}")
    log "round $r of $ROUNDS: order ${order[*]}"
    for size in 1024 100; do
        n=$RECORDS
        [[ $size == 100 ]] && n=$RECORDS_SMALL
        for m in "${order[@]}"; do
            [[ $m == via && $size != 1024 ]] && continue
            t=t$size-$m-$r
            log "  produce $n x $size B, $m"
            produce "$m" "$t" "$n" "$size" -1 || die "produce $t"
            record produce "$size" "$m" "$r" "$WORK/raw/produce-$t"
            record bytes "$size" "$m" "$r" "$(seg_bytes "$t")" "$n"
        done
        for m in "${order[@]}"; do
            [[ $m == via && $size != 1024 ]] && continue
            t=t$size-$m-$r
            log "  consume $n x $size B, $m"
            consume "$m" "$t" "$n" || die "consume $t"
            record consume "$size" "$m" "$r" "$WORK/raw/consume-$t"
        done
    done
    for m in "${order[@]}"; do
        [[ $m == clear ]] && continue
        t=lat-$m-$r
        log "  produce $LAT_RECORDS x 1 KiB at $LAT_RATE/s, $m"
        produce "$m" "$t" "$LAT_RECORDS" 1024 "$LAT_RATE" || die "produce $t"
        record latency 1024 "$m" "$r" "$WORK/raw/produce-$t"
    done
done

PERF_DIR=""
# `perf_run NAME PID CMD...`: CMD while `perf record -g` samples PID; top symbols (self time) and
# objects into $WORK/perf/NAME.{sym,dso}.txt.
perf_run() {
    local name=$1 pid=$2
    shift 2
    perf record --call-graph "$PERF_CALL_GRAPH" -F 499 -o "$PERF_DIR/$name.data" -p "$pid" >"$PERF_DIR/$name.log" 2>&1 &
    PERF_PID=$!
    sleep 1
    "$@" || log "the perf run $name failed"
    kill -INT "$PERF_PID" 2>/dev/null; wait "$PERF_PID" 2>/dev/null || true
    PERF_PID=""
    perf report -i "$PERF_DIR/$name.data" --no-children --sort symbol --stdio 2>/dev/null |
        grep -E '^ +[0-9]+\.[0-9]+%' | head -n 20 | sed 's/ *- *- *$//' >"$PERF_DIR/$name.sym.txt" || true
    perf report -i "$PERF_DIR/$name.data" --no-children --sort dso --stdio 2>/dev/null |
        grep -E '^ +[0-9]+\.[0-9]+%' | head -n 6 | sed 's/ *$//' >"$PERF_DIR/$name.dso.txt" || true
    # Inclusive time of the node's own functions (needs a call graph that unwinds: dwarf).
    perf report -i "$PERF_DIR/$name.data" --children --sort symbol --stdio -g none 2>/dev/null |
        grep -E '^ +[0-9]+\.[0-9]+% +[0-9]+\.[0-9]+%' | grep -E 'airlock|kafka|ring|crc32c|memmove' |
        head -n 25 | sed 's/ *$//' >"$PERF_DIR/$name.children.txt" || true
}
if [[ $PERF == 1 ]] && command -v perf >/dev/null; then
    PERF_DIR=$WORK/perf && mkdir -p "$PERF_DIR"
    log "perf record -g on the producer node (pid ${PID[producer]}) during one more encrypting 1 KiB produce run"
    perf_run producer "${PID[producer]}" produce enc perf-enc "$RECORDS" 1024 -1
    log "perf record -g on the consumer node (pid ${PID[consumer]}) while that topic is consumed through its inlet"
    perf_run consumer "${PID[consumer]}" consume enc perf-enc "$RECORDS"
fi

python3 "$BENCH_DIR/kafka_report.py" "$RES" "$RECORDS" "$RECORDS_SMALL" "$LAT_RECORDS" "$LAT_RATE" "$ROUNDS" \
    "$PERF_DIR" | tee "${OUT:-/dev/null}"
