#!/usr/bin/env bash
# Stream benchmark (seed 003): Alice's secure channel to Bob's echoer through a pair of Kafka
# streams on a hub, against the same channel over a direct TCP connection, in one run:
#
#   direct    alice --direct BOB  -> TCP -> Bob's node (the baseline: no hub, no Kafka)
#   streams   alice -> hub (stream_kafka) -> Kafka topic bob.in -> hub -> Bob, and back through
#             bob.out: every message is produced to and fetched from Kafka twice per round trip
#
# For each mode: a ping-pong run (window 1: one-way delay Alice -> Bob from the send time each
# message carries, `alice --stamp`, and round-trip p50/p99) and a pipelined run (window W:
# messages per second). Rounds alternate the order (direct, streams / streams, direct); figures
# are medians over the rounds, ratios are streams / direct within a round.
#
#   bash bench/streams.sh                  # 3 rounds, 2000 ping-pongs, 20000 pipelined
#   QUICK=1 bash bench/streams.sh          # 1 round, 300 / 3000
#
# Knobs: ROUNDS, PING (messages of the window-1 run), FLOOD (messages of the pipelined run),
# WINDOW (64), SIZE (message bytes, 100), PORT_BASE (18800: Kafka, controller, hub), AIRLOCK
# (binary; default $AIRLOCK_BIN or target/release/airlock), EXAMPLES (target/release/examples).
# Needs the release build of the binary and the examples:
#   cargo build --release -p airlock-cli -p airlock-node --examples
# Markdown table on stdout, progress on stderr; everything started is stopped on exit.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
cd "$ROOT"
source tests/lib/common.sh
source tests/testbed/kafka.sh
AIRLOCK="${AIRLOCK:-${AIRLOCK_BIN:-$ROOT/target/release/airlock}}"
EXAMPLES="${EXAMPLES:-$ROOT/target/release/examples}"
for b in "$AIRLOCK" "$EXAMPLES/alice" "$EXAMPLES/bob"; do
    [ -x "$b" ] || { echo "missing $b: cargo build --release -p airlock-cli -p airlock-node --examples" >&2; exit 1; }
done
if [ -n "${QUICK:-}" ]; then ROUNDS=${ROUNDS:-1} PING=${PING:-300} FLOOD=${FLOOD:-3000}; fi
ROUNDS=${ROUNDS:-3} PING=${PING:-2000} FLOOD=${FLOOD:-20000} WINDOW=${WINDOW:-64} SIZE=${SIZE:-100}
PORT_BASE=${PORT_BASE:-18800}
KPORT=$PORT_BASE CPORT=$((PORT_BASE + 1)) HUB_PORT=$((PORT_BASE + 2))

WORK="$(mktemp -d /tmp/airlock-bench-streams.XXXXXX)"
export AIRLOCK_HOME="$WORK/home"
on_exit "rm -rf '$WORK'"
on_exit "'$AIRLOCK' node delete --all --yes"
on_exit "kafka_stop"
on_exit 'pkill -P $$ -f examples/bob'

echo "Kafka (cached install), one broker on 127.0.0.1:$KPORT" >&2
kafka_install >/dev/null
kafka_start "" 127.0.0.1 bench-streams --port "$KPORT" --controller-port "$CPORT" --dir "$WORK/kafka" >/dev/null
"$AIRLOCK" node create hub --tcp-listener-address "127.0.0.1:$HUB_PORT" \
    --kafka-bootstrap "127.0.0.1:$KPORT" --trust-anyone >/dev/null
HUB="127.0.0.1:$HUB_PORT"
"$EXAMPLES/bob" --hub "$HUB" --name bench >"$WORK/bob.out" 2>"$WORK/bob.err" &
for _ in $(seq 1 100); do grep -q '^streams: ' "$WORK/bob.out" && break; sleep 0.1; done
STREAMS=$(sed -n 's/^streams: //p' "$WORK/bob.out")
BOB_AT=$(sed -n 's/^listening: //p' "$WORK/bob.out")
[ -n "$STREAMS" ] && [ -n "$BOB_AT" ] || { cat "$WORK/bob.out" "$WORK/bob.err" >&2; exit 1; }
echo "Bob: streams $STREAMS, node at $BOB_AT" >&2

run() { # run MODE COUNT WINDOW [ALICE OPTION…] -> one JSON line
    local mode=$1 count=$2 window=$3 how
    shift 3
    if [ "$mode" = direct ]; then how=(--direct "$BOB_AT"); else how=(--hub "$HUB" --to "$STREAMS"); fi
    "$EXAMPLES/alice" "${how[@]}" --count "$count" --window "$window" --size "$SIZE" --json \
        --client-id "bench-$mode" --timeout-secs 300 "$@" | tail -1
}
# Warm-up (JIT of the broker, connections).
run direct 200 8 >/dev/null
run streams 200 8 >/dev/null
: >"$WORK/results"
for r in $(seq 1 "$ROUNDS"); do
    order=(direct streams)
    [ $((r % 2)) = 0 ] && order=(streams direct)
    for mode in "${order[@]}"; do
        echo "round $r: $mode" >&2
        from=$(wc -l <"$WORK/bob.out")
        ping=$(run "$mode" "$PING" 1 --stamp)
        echo "$r $mode ping $from $(wc -l <"$WORK/bob.out") $ping" >>"$WORK/results"
        echo "$r $mode flood 0 0 $(run "$mode" "$FLOOD" "$WINDOW")" >>"$WORK/results"
    done
done
python3 - "$WORK/results" "$SIZE" "$WINDOW" "$WORK/bob.out" <<'PY'
import json, re, statistics, sys
rows = [l.split(" ", 5) for l in open(sys.argv[1]) if l.strip()]
bob = open(sys.argv[4]).read().splitlines()
res = {}
for r, mode, kind, first, last, js in rows:
    d = json.loads(js)
    assert d["echoed"] == d["sent"], f"round {r} {mode} {kind}: {d}"
    if kind == "ping":
        # One-way Alice -> Bob, from Bob's lines for this run (`… one-way N us`).
        ow = sorted(int(m.group(1)) / 1e3 for l in bob[int(first):int(last)]
                    if (m := re.search(r" one-way (\d+) us$", l)))
        assert len(ow) == d["sent"], f"round {r} {mode}: {len(ow)} one-way delays for {d['sent']} messages"
        d["one_way_p50_ms"] = ow[len(ow) // 2]
        d["one_way_p99_ms"] = ow[min(len(ow) - 1, int(len(ow) * 0.99))]
    res.setdefault((mode, kind), {})[r] = d
def med(mode, kind, key):
    return statistics.median(v[key] for v in res[(mode, kind)].values())
def ratio(kind, key):
    rs = [res[("streams", kind)][r][key] / res[("direct", kind)][r][key] for r in res[("direct", kind)]]
    return statistics.median(rs)
print(f"| {sys.argv[2]} B messages, pipelined window {sys.argv[3]} | direct TCP | through Kafka streams | ratio |")
print("|---|---|---|---|")
for label, kind, key in [("one-way Alice -> Bob p50 (ms)", "ping", "one_way_p50_ms"), ("one-way Alice -> Bob p99 (ms)", "ping", "one_way_p99_ms"),
                         ("round trip p50 (ms)", "ping", "p50_ms"), ("round trip p99 (ms)", "ping", "p99_ms"),
                         ("ping-pong messages/s", "ping", "messages_per_s"), ("pipelined messages/s", "flood", "messages_per_s"),
                         ("pipelined round trip p50 (ms)", "flood", "p50_ms"), ("pipelined round trip max (ms)", "flood", "max_ms")]:
    print(f"| {label} | {med('direct', kind, key):.2f} | {med('streams', kind, key):.2f} | {ratio(kind, key):.2f}x |")
PY
