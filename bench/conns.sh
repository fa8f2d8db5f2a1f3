#!/usr/bin/env bash
# Many concurrent, mostly idle connections through one direct portal (not run in CI):
#
#   bash bench/conns.sh                       # 2 000 connections, target/release/airlock
#   CONNS=10000 bash bench/conns.sh [BINARY]  # 10 000
#   RELAY=1 bash bench/conns.sh               # through a project relay (3 nodes)
#
# Two nodes on 127.0.0.1: n1 holds an outlet to a Python echo server, n2 an inlet to it. With
# RELAY=1: a project node, an outlet node that holds relay r1, and an inlet node that reaches the
# outlet through the relay (the project node forwards the end-to-end channel's ciphertext).
# bench/conns.py opens CONNS connections (batches of BATCH, each confirmed by a one-byte echo),
# first straight to the echo server (the baseline), then through the inlet, and holds them.
# Reported, all from this one run:
#   * opening time through the portal vs straight to the server (ratio);
#   * RSS of each node idle, while holding the connections (after a ping on every one of them,
#     then 2 s idle), and 6 s after they closed; KiB per held connection per node;
#   * a ping pass over all held connections (every one still answers).
# Ports PORT_BASE+1..+2 (default 15501-15502) on 127.0.0.1. Everything started is stopped on exit.
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT=$(dirname "$BENCH_DIR")
BIN=${1:-$ROOT/target/release/airlock}
N=${CONNS:-2000}
BATCH=${BATCH:-200}
BASE=${PORT_BASE:-15500}
ECHO=$((BASE + 1)) INLET=$((BASE + 2))
[ -x "$BIN" ] || { echo "no airlock binary at $BIN (cargo build --release -p airlock-cli)" >&2; exit 2; }
# Every connection is a descriptor in the client, both nodes and the server; nodes inherit this.
ulimit -n "$(ulimit -Hn)"
need=$((N + 200))
[ "$(ulimit -n)" -ge "$need" ] || { echo "open-file limit $(ulimit -n) < $need: raise the hard limit (ulimit -Hn)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/airlock-conns.XXXXXX)
PIDS=()
AL=$WORK/airlock
RELAY=${RELAY:-0}
# as PARTY CMD...: the CLI with PARTY's own home (direct mode: one home for both nodes).
as() { local party=$1; shift; AIRLOCK_HOME=$WORK/home-$party "$AL" "$@"; }
cleanup() {
    set +e
    for h in "$WORK"/home-*; do
        [ -x "$AL" ] && AIRLOCK_HOME=$h timeout 30 "$AL" node delete --all --yes >/dev/null 2>&1
    done
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM INT
log() { printf '[conns %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# conns_at PARTY NODE KIND: connections the node's inlets or outlets carry now.
conns_at() {
    AIRLOCK_HOME=$WORK/home-$1 timeout 20 "$AL" "$3" list --at "$2" --output json |
        python3 -c 'import json,sys; d=json.load(sys.stdin); d=d if isinstance(d,list) else next(iter(v for v in d.values() if isinstance(v,list)),[]); print(sum(x.get("connections",0) for x in d))'
}
node_pid() { # PARTY NODE
    as "$1" node show "$2" --output json |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("pid") or d["details"]["pid"])'
}

cp "$BIN" "$AL"
python3 "$BENCH_DIR/latency.py" serve --port "$ECHO" >/dev/null 2>&1 &
PIDS+=($!)
wait_port "$ECHO"
quiet() { "$@" >"$WORK/cli.log" 2>&1 || { cat "$WORK/cli.log" >&2; exit 1; }; }
if [ "$RELAY" = 1 ]; then
    OUT=(bank n1) IN=(analysis n2)
    quiet as admin project create --listen "127.0.0.1:$((BASE + 3))"
    bank_ticket=$(as admin project ticket --relay r1)
    analysis_ticket=$(as admin project ticket)
    quiet as bank project enroll "$bank_ticket"
    quiet as bank node create n1
    quiet as bank relay create r1 --to n1
    quiet as bank tcp-outlet create --at n1 --from echo-svc --to "127.0.0.1:$ECHO"
    quiet as analysis project enroll "$analysis_ticket"
    quiet as analysis node create n2
    quiet as analysis tcp-inlet create --at n2 --from "127.0.0.1:$INLET" --via r1 --to echo-svc
    PP=$(as admin node list --output json | python3 -c 'import json,sys; d=json.load(sys.stdin); d=d if isinstance(d,list) else d.get("nodes",[]); print(next(x.get("pid") or x["details"]["pid"] for x in d))')
else
    OUT=(n n1) IN=(n n2)
    quiet as n node create n1
    quiet as n node create n2
    quiet as n tcp-outlet create --at n1 --from echo-svc --to "127.0.0.1:$ECHO"
    quiet as n tcp-inlet create --at n2 --from "127.0.0.1:$INLET" --to /node/n1/secure/api/service/echo-svc
fi
wait_port "$INLET"
P1=$(node_pid "${OUT[@]}") P2=$(node_pid "${IN[@]}")
log "$("$AL" --version); $N connections in batches of $BATCH; load $(cut -d' ' -f1-3 /proc/loadavg)"

# hold PORT NAME: opens the connections and leaves the client running as coprocess HOLD.
hold() {
    coproc HOLD { exec python3 "$BENCH_DIR/conns.py" hold --port "$1" --count "$N" --batch "$BATCH"; }
    HOLD_PID=$HOLD_PID
    ask_reply opened "$2"
}
# ask_reply EVENT NAME [COMMAND]: sends COMMAND (if any) and waits (bounded) for EVENT's line.
ask_reply() {
    local want=$1 name=$2 cmd=${3:-} line
    [ -n "$cmd" ] && echo "$cmd" >&"${HOLD[1]}"
    IFS= read -r -t 300 -u "${HOLD[0]}" line || { echo "$name: no answer from conns.py" >&2; exit 1; }
    case $line in *"\"$want\""*) REPLY_JSON=$line ;; *) echo "$name: $line" >&2; exit 1 ;; esac
}
field() { python3 -c 'import json,sys; print(round(json.loads(sys.argv[1])[sys.argv[2]], 3))' "$REPLY_JSON" "$1"; }
finish() { ask_reply closed "$1" close; wait "$HOLD_PID" 2>/dev/null || true; }

# Baseline: straight to the echo server.
hold "$ECHO" direct
direct_s=$(field seconds)
finish direct
log "direct: $N connections open in ${direct_s} s"

sleep 1
idle1=$(rss_kib "$P1") idle2=$(rss_kib "$P2") idlep=$([ -n "${PP:-}" ] && rss_kib "$PP" || echo 0)
hold "$INLET" portal
portal_s=$(field seconds)
log "portal: $N connections open in ${portal_s} s"
ask_reply pinged portal ping
ping_s=$(field seconds)
sleep 2
held1=$(rss_kib "$P1") held2=$(rss_kib "$P2") heldp=$([ -n "${PP:-}" ] && rss_kib "$PP" || echo 0)
log "held: outlet carries $(conns_at "${OUT[@]}" tcp-outlet), inlet $(conns_at "${IN[@]}" tcp-inlet) connections"
finish portal
sleep 6   # the node gives freed memory back every 5 s
after1=$(rss_kib "$P1") after2=$(rss_kib "$P2") afterp=$([ -n "${PP:-}" ] && rss_kib "$PP" || echo 0)
log "6 s after close: outlet carries $(conns_at "${OUT[@]}" tcp-outlet), inlet $(conns_at "${IN[@]}" tcp-inlet) connections"

python3 - "$N" "$direct_s" "$portal_s" "$ping_s" "$idle1" "$held1" "$after1" "$idle2" "$held2" "$after2" "$idlep" "$heldp" "$afterp" "$RELAY" <<'EOF'
import sys
n, direct, portal, ping = int(sys.argv[1]), *map(float, sys.argv[2:5])
i1, h1, a1, i2, h2, a2, ip, hp, ap = map(int, sys.argv[5:14])
relay = sys.argv[14] == "1"
print(f"| {n} connections{' through a project relay' if relay else ''} | value | baseline | ratio |")
print("|---|---|---|---|")
print(f"| open all (s) | {portal:.2f} | {direct:.2f} straight to the server | {portal / direct:.2f}x |")
print(f"| open, per connection (ms) | {1000 * portal / n:.3f} | {1000 * direct / n:.3f} | +{1000 * (portal - direct) / n:.3f} ms |")
print(f"| one-byte ping on every held connection (s) | {ping:.2f} | | |")
nodes = [("outlet node n1", i1, h1, a1), ("inlet node n2", i2, h2, a2)]
if relay:
    nodes.append(("project node (relay)", ip, hp, ap))
for name, i, h, a in nodes:
    print(f"| {name} RSS idle / holding / 6 s after close (MiB) | {i / 1024:.1f} / {h / 1024:.1f} / {a / 1024:.1f} | | |")
    print(f"| {name} KiB per held connection | {(h - i) / n:.1f} | target 16 | {(h - i) / n / 16:.2f}x |")
EOF
