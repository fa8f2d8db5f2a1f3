#!/usr/bin/env bash
# Round-trip A/B of two airlock binaries, interleaved (not run in CI):
#
#   bash bench/rtt_ab.sh OLD_BINARY NEW_BINARY      # 30 pairs of 1000-round-trip blocks, 64 B
#   BLOCKS=40 BLOCK=1000 SIZE=64 bash bench/rtt_ab.sh A B
#
# Each binary runs its own pair of nodes (own AIRLOCK_HOME): n1 with an outlet to one Python echo
# server, n2 with an inlet to it on a direct route. bench/rtt_ab.py then sends blocks of round
# trips through A's inlet and B's inlet in turn (A B, B A, …), so noise lands on both, and prints
# the per-side p50/p99 and the median of the per-pair ratios B/A. Ports 15401–15403 on 127.0.0.1
# (PORT_BASE). Everything started is stopped on exit.
set -euo pipefail
[ $# = 2 ] || { echo "usage: bash bench/rtt_ab.sh BINARY_A BINARY_B" >&2; exit 2; }
BENCH_DIR="$(cd "$(dirname "$0")" && pwd)"
BASE=${PORT_BASE:-15400}
ECHO=$((BASE + 1)) PA=$((BASE + 2)) PB=$((BASE + 3))
WORK=$(mktemp -d /tmp/airlock-rtt-ab.XXXXXX)
PIDS=()
cleanup() {
    for side in a b; do
        if [ -x "$WORK/$side/airlock" ]; then
            AIRLOCK_HOME="$WORK/$side/home" timeout 30 "$WORK/$side/airlock" node delete --all --yes >/dev/null 2>&1 || true
        fi
    done
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM INT
log() { printf '[rtt-ab %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

python3 "$BENCH_DIR/latency.py" serve --port "$ECHO" >/dev/null 2>&1 &
PIDS+=($!)
wait_port "$ECHO"
setup() { # SIDE BINARY PORT
    local side=$1 bin=$2 port=$3
    mkdir -p "$WORK/$side/home"
    cp "$bin" "$WORK/$side/airlock"
    local al="$WORK/$side/airlock"
    export AIRLOCK_HOME="$WORK/$side/home"
    timeout 30 "$al" node create n1 >/dev/null
    timeout 30 "$al" node create n2 >/dev/null
    timeout 30 "$al" tcp-outlet create --at n1 --from echo-svc --to "127.0.0.1:$ECHO" >/dev/null
    timeout 30 "$al" tcp-inlet create --at n2 --from "127.0.0.1:$port" --to /node/n1/secure/api/service/echo-svc >/dev/null
    wait_port "$port"
    log "$side: $("$al" --version) inlet 127.0.0.1:$port"
}
setup a "$1" "$PA"
setup b "$2" "$PB"
log "load $(cut -d' ' -f1-3 /proc/loadavg); ${BLOCKS:-30} pairs of ${BLOCK:-1000} round trips of ${SIZE:-64} B"
python3 "$BENCH_DIR/rtt_ab.py" --a "$PA" --b "$PB" --blocks "${BLOCKS:-30}" --block "${BLOCK:-1000}" --size "${SIZE:-64}"
