#!/usr/bin/env bash
# Scenario (seed 003): secure channels through Kafka topics. Bob never accepts a connection and
# Alice never connects to him: each reaches only a hub, which keeps their two streams as Kafka
# topics; the secure channel between them runs through those topics (docs/protocol.md §12).
#
#   st_project  the hub: `airlock node create hub --kafka-bootstrap … --trust-anyone` listening on
#               :4300 of the project host, and Apache Kafka 4.1.1 (KRaft) on the project host's own
#               loopback (:9692, controller :9792)
#   st_bank     Bob (crates/airlock-node/examples/bob.rs): makes NAME.in and NAME.out on the hub,
#               echoes what comes in through secure channels, delivers each message once through
#               his journal
#      └── only link ──▶ st_project
#   st_analysis Alice (examples/alice.rs): opens a secure channel with Bob through his streams,
#               sends `message 0` … `message 99`, waits for every echo; also Mallory (the same
#               program with another identity) in step 7
#      └── only link ──▶ st_project
#
# Asserts:
#  1. isolation: Bob's and Alice's namespaces cannot reach each other, nor Kafka (which answers on
#     the project host); both reach the hub; Bob listens on loopback only and his only TCP
#     connections lead to the hub.
#  2. Bob's streams, Alice's channel to the identifier he printed (--bob), 100 messages echoed
#     (window 1), no duplicate echo; Bob's journal holds each of the 100 once, from one sender.
#  3. the two Kafka topics hold records (≥ 101 and ≥ 100: the count makes the next check
#     non-vacuous) but no plaintext: neither `message 42`, `message `, nor the inner addresses
#     `echoer` / `alice_inbox`, read back with kcat and grepped in the broker's data files;
#     positive controls: the handshake's onward route `api` (routes are clear) is found in bob.in
#     by both means, Bob's position key in the index topic's data file.
#  4+5 (merged: one Bob crash covers both): Bob (bob2) is killed with SIGKILL after ≥ 30 of 100
#     messages (window 5); while he is down, Alice notices the silence and pushes a new handshake
#     (the bob2.in topic grows while Bob is dead); Bob restarts with the same identity, name and
#     journal, resumes at a position before those records, answers the handshake that waited in
#     Kafka; Alice ends with 100 echoed, ≥ 1 new channel; the journal has each message once.
#     (A killed Bob loses his channel keys, so the data messages Alice pushed into the old
#     channel cannot be decrypted by the new Bob: what was pushed while he was down and reaches
#     him is the new handshake, and the unacknowledged messages are sent again on the new channel
#     — delivered once thanks to the journal.)
#  6. the hub node is stopped and started again while Alice (bob3, 100 messages) is running (Bob
#     frozen with SIGSTOP meanwhile, so the restart falls mid-stream): Alice ends with 100 echoed
#     on the same secure channel (none new), the journal is exactly-once, the restarted hub read every saved
#     position back from Kafka (its log's positions= equals the keys of the index topic), Bob's
#     saved position reaches the end of bob3.in, and a restarted Bob resumes exactly there.
#  7. attack: Mallory (a third identity) runs the Alice program on Bob's inbox with Bob's client
#     id (`--client-id bob --to bob3.in,bob3.in`: she pushes there and pulls it herself, so she
#     saves positions under "bob" for bob3.in); the index topic shows her key beside Bob's, Bob's
#     value is unchanged, and Bob restarted resumes at his own position, not hers.
#
# Timings are printed at the end. Environment: AIRLOCK_BIN (default target/release/airlock),
# AIRLOCK_EXAMPLES_DIR (default target/release/examples, holding alice and bob), KEEP_WORK=1 keeps
# $WORK, STREAMS_RUST_LOG (default info) for the examples' stderr logs.
set -euo pipefail
export TESTBED_PREFIX="${TESTBED_PREFIX:-st_}"
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/testbed/kafka.sh"
source "$ROOT/tests/lib/airlock.sh"
EXAMPLES="${AIRLOCK_EXAMPLES_DIR:-$ROOT/target/release/examples}"
[ -x "$AIRLOCK" ] || fail "build first: cargo build --release"
[ -x "$EXAMPLES/alice" ] && [ -x "$EXAMPLES/bob" ] ||
    fail "no alice/bob in $EXAMPLES: cargo build --release --examples -p airlock-node"
[ "$(id -u)" = 0 ] || fail "the scenario needs root (network namespaces)"

WORK="$(mktemp -d /tmp/airlock-streams.XXXXXX)"
[ -n "${KEEP_WORK:-}" ] || on_exit "rm -rf '$WORK'"
on_exit "testbed_down"
on_exit "kafka_stop"

# Ports apart from the other scenarios'.
HUB_PORT=4300 KPORT=9692 CPORT=9792
KAFKA=127.0.0.1:$KPORT
HUB_FOR_BOB=$PROJECT_IP_FOR_BANK:$HUB_PORT
HUB_FOR_ALICE=$PROJECT_IP_FOR_ANALYSIS:$HUB_PORT
LOG_FILTER="${STREAMS_RUST_LOG:-info}"

now_ms() { date +%s%3N; }
secs_since() { awk -v ms="$(($(now_ms) - $1))" 'BEGIN { printf "%.1f", ms / 1000 }'; }
T_ALL=$(now_ms)
TIMINGS=()
timing() { TIMINGS+=("$(printf '%-58s %6s s' "$1" "$(secs_since "$2")")"); }

# Background alice/bob processes (ip netns exec and env exec them: $! is the program itself).
BG_PIDS=()
stop_bg() {
    local pid comm
    for pid in "${BG_PIDS[@]}"; do
        comm="$(cat "/proc/$pid/comm" 2>/dev/null)" || continue
        case $comm in alice | bob) kill -KILL "$pid" 2>/dev/null || true ;; esac
        wait "$pid" 2>/dev/null || true
    done
}
on_exit "stop_bg"

# `start_bob OUT ARGS…` starts Bob in the bank namespace (stdout OUT, stderr OUT.err) and waits
# until he prints his streams; sets BOB_PID.
start_bob() {
    local out=$1
    shift
    ip netns exec "$NS_BANK" env RUST_LOG="$LOG_FILTER" "$EXAMPLES/bob" --hub "$HUB_FOR_BOB" "$@" \
        </dev/null >"$out" 2>"$out.err" &
    BOB_PID=$!
    BG_PIDS+=("$BOB_PID")
    wait_until 40 grep -qs '^streams: ' "$out" ||
        fail "Bob ($*) printed no streams within 40 s: $(tail -3 "$out.err")"
}
# `start_alice OUT ARGS…` starts Alice in the analysis namespace in the background; sets ALICE_PID.
start_alice() {
    local out=$1
    shift
    ip netns exec "$NS_ANALYSIS" env RUST_LOG="$LOG_FILTER" "$EXAMPLES/alice" --hub "$HUB_FOR_ALICE" "$@" \
        </dev/null >"$out" 2>"$out.err" &
    ALICE_PID=$!
    BG_PIDS+=("$ALICE_PID")
}
# `wait_exit PID SECS`: waits (bounded) until PID ends; sets RC to its exit code (124: still running).
wait_exit() {
    local pid=$1
    RC=124
    wait_until "$2" eval "! kill -0 $pid 2>/dev/null" || return 0
    RC=0
    wait "$pid" 2>/dev/null || RC=$?
}
# `kill_wait PID SIGNAL`: signals PID and reaps it.
kill_wait() { kill -s "$2" "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
line_value() { sed -n "s/^$1: //p" "$2" | head -1; } # `line_value PREFIX FILE`
received() { grep -c '^received: ' "$1" 2>/dev/null || true; }
# `wait_received FILE N SECS`: polls every 20 ms (a hundred messages take about a second), so
# that what follows happens mid-stream.
wait_received() {
    local deadline=$(($(date +%s) + $3))
    while [ "$(received "$1")" -lt "$2" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.02
    done
}
# `json FIELD FILE`: FIELD of the summary object Alice printed last.
json() {
    grep '^{' "$2" | tail -1 | python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}
# `journal_check FILE N`: N lines, `message 0` … `message N-1` each exactly once, one sender.
journal_check() {
    local f=$1 n=$2 lines dups senders
    [ -f "$f" ] || fail "no journal $f"
    lines=$(wc -l <"$f")
    [ "$lines" = "$n" ] || fail "$f holds $lines lines, expected $n"
    dups="$(cut -f2 "$f" | sort | uniq -d)"
    [ -z "$dups" ] || fail "$f holds messages more than once: $(head -3 <<<"$dups" | tr '\n' ' ')"
    diff <(seq 0 $((n - 1)) | sed 's/^/message /' | sort) <(cut -f2 "$f" | sort) >&2 ||
        fail "$f does not hold exactly message 0 … message $((n - 1))"
    senders=$(cut -f1 "$f" | sort -u | wc -l)
    [ "$senders" = 1 ] || fail "$f holds messages from $senders senders, expected 1"
}

# Kafka as seen from the project host, with kcat (librdkafka: no JVM start).
kcat_in() { kafka_kcat "$NS_PROJECT" -b "$KAFKA" -C -o beginning -e -q "$@"; }
# Records in stream $1's topic.
records() { kcat_in -t "airlock.stream.$1" -f '%o\n' | wc -l; }
records_more_than() { [ "$(records "$1")" -gt "$2" ]; }
# Every saved position: "KEY VALUE" lines (the last value of each key), from the index topic.
positions() {
    kcat_in -t airlock.stream-index -f '%K %S %k%s' | python3 -c '
import sys
d = sys.stdin.buffer.read()
i, last = 0, {}
while i < len(d):
    sp = d.index(b" ", i); kl = int(d[i:sp]); i = sp + 1
    sp = d.index(b" ", i); vl = int(d[i:sp]); i = sp + 1
    k = d[i:i + max(kl, 0)]; i += max(kl, 0)
    v = d[i:i + max(vl, 0)]; i += max(vl, 0)
    if kl > 0:
        last[k.decode()] = int.from_bytes(v, "big") if len(v) == 8 else -1
for k, v in sorted(last.items()):
    print(k, v)
'
}
position_of() { positions | awk -v k="$1" '$1 == k { print $2 }'; } # `position_of KEY`
position_is() { [ "$(position_of "$1")" = "$2" ]; }

log "installing Kafka $KAFKA_VERSION (cached in $KAFKA_HOME) and kcat"
kafka_install >/dev/null || fail "kafka_install"

log "network namespaces"
t=$(now_ms)
testbed_up
testbed_assert_isolated >/dev/null 2>&1 || fail "namespaces are not isolated (bank <-> analysis)"
parties hub="$NS_PROJECT"

log "the hub's Kafka: KRaft on the project host's loopback :$KPORT"
kafka_start "$NS_PROJECT" 127.0.0.1 hub --port $KPORT --controller-port $CPORT >/dev/null || fail "kafka_start"
timing "namespaces and Kafka start" "$t"

log "the hub: an airlock node serving streams backed by that Kafka"
t=$(now_ms)
as hub node create hub --tcp-listener-address 0.0.0.0:$HUB_PORT --kafka-bootstrap "$KAFKA" --trust-anyone \
    >"$WORK/hub-create.log" 2>&1 || fail "node create hub: $(tail -5 "$WORK/hub-create.log")"
HUB_LOG="$WORK/hub/nodes/hub/node.log"
testbed_wait_port "$NS_BANK" "$PROJECT_IP_FOR_BANK" $HUB_PORT 20 2>/dev/null || fail "the hub does not answer at $HUB_FOR_BOB"
wait_until 20 grep -q "stream services stream_kafka and stream_kafka_index ready" "$HUB_LOG" ||
    fail "the hub's log does not say its stream services are ready: $(tail -5 "$HUB_LOG" 2>&1)"
timing "hub node create" "$t"
pass "hub node at 0.0.0.0:$HUB_PORT in $NS_PROJECT, stream services on Kafka $KAFKA"

log "1. isolation"
testbed_tcp_connect "$NS_PROJECT" 127.0.0.1 $KPORT 2 2>/dev/null || fail "control: Kafka does not answer on the project host"
for pair in "$NS_BANK:$PROJECT_IP_FOR_BANK" "$NS_ANALYSIS:$PROJECT_IP_FOR_ANALYSIS"; do
    ns=${pair%%:*} ip=${pair#*:}
    testbed_tcp_connect "$ns" "$ip" $HUB_PORT 2 2>/dev/null || fail "$ns cannot reach the hub at $ip:$HUB_PORT"
    for port in $KPORT $CPORT; do
        if testbed_tcp_connect "$ns" "$ip" $port 2 2>/dev/null; then fail "$ns reached Kafka at $ip:$port"; fi
    done
done
for target in "$ANALYSIS_IP:$HUB_PORT" "$PROJECT_IP_FOR_ANALYSIS:$HUB_PORT"; do
    if testbed_tcp_connect "$NS_BANK" "${target%:*}" "${target#*:}" 2 2>/dev/null; then fail "$NS_BANK reached $target"; fi
done
if testbed_tcp_connect "$NS_ANALYSIS" "$BANK_IP" $HUB_PORT 2 2>/dev/null; then fail "$NS_ANALYSIS reached $BANK_IP"; fi
pass "Bob's and Alice's namespaces reach the hub only: not Kafka (:$KPORT, :$CPORT), not each other (probe listener test passed)"

log "2. Bob's streams, Alice's secure channel, 100 echoes"
t=$(now_ms)
start_bob "$WORK/bob.out" --name bob --identity-file "$WORK/bob.id" --journal "$WORK/bob.journal"
BOB_ID=$(line_value identifier "$WORK/bob.out")
STREAMS=$(line_value streams "$WORK/bob.out")
[ -n "$BOB_ID" ] || fail "Bob printed no identifier"
[ "$STREAMS" = "bob.in,bob.out" ] || fail "Bob's streams: '$STREAMS'"
[ "$(line_value "resumed at" "$WORK/bob.out")" = 0 ] || fail "a new Bob did not start at 0: $(grep resumed "$WORK/bob.out")"
timing "Bob start (bob.in, bob.out created)" "$t"
# Bob accepts no connection: he listens on loopback only, and his TCP connections lead to the hub.
listening="$(ip netns exec "$NS_BANK" ss -Hltnp | grep "pid=$BOB_PID," | awk '{ print $4 }')"
[ -n "$listening" ] || fail "control: no listening socket of Bob's node found"
if grep -v '^127\.' <<<"$listening" | grep -q .; then fail "Bob listens beyond loopback: $listening"; fi
peers="$(ip netns exec "$NS_BANK" ss -Htnp state established | grep "pid=$BOB_PID," | awk '{ print $4 }' | sort -u)"
[ "$peers" = "$HUB_FOR_BOB" ] || fail "Bob's connections lead to '$peers', expected only $HUB_FOR_BOB"
pass "Bob ($BOB_ID) made $STREAMS on the hub; he listens only on $(tr '\n' ' ' <<<"$listening")and connects only to $peers"

t=$(now_ms)
start_alice "$WORK/alice.out" --to "$STREAMS" --bob "$BOB_ID" --count 100 --json --timeout-secs 90
wait_exit "$ALICE_PID" 100
[ "$RC" = 0 ] || fail "Alice exited $RC: $(tail -3 "$WORK/alice.out") $(tail -3 "$WORK/alice.out.err")"
timing "Alice: channel + 100 round trips (window 1)" "$t"
[ "$(json echoed "$WORK/alice.out")" = 100 ] || fail "echoed: $(grep '^{' "$WORK/alice.out")"
[ "$(json duplicates "$WORK/alice.out")" = 0 ] || fail "duplicates: $(grep '^{' "$WORK/alice.out")"
[ "$(json unexpected "$WORK/alice.out")" = 0 ] || fail "unexpected echoes: $(grep '^{' "$WORK/alice.out")"
[ "$(json peer "$WORK/alice.out")" = "$BOB_ID" ] || fail "Alice's peer is not Bob: $(grep '^{' "$WORK/alice.out")"
journal_check "$WORK/bob.journal" 100
[ "$(received "$WORK/bob.out")" = 100 ] || fail "Bob printed $(received "$WORK/bob.out") received: lines"
pass "$(grep '^secure channel' "$WORK/alice.out" | sed 's/ through.* in / in /'); 100 echoed, 0 duplicates; journal: each message once (p50 $(json p50_ms "$WORK/alice.out") ms, p99 $(json p99_ms "$WORK/alice.out") ms, $(json messages_per_s "$WORK/alice.out") messages/s)"

log "3. Kafka holds ciphertext only"
t=$(now_ms)
n_in=$(records bob.in) n_out=$(records bob.out)
[ "$n_in" -ge 101 ] || fail "airlock.stream.bob.in holds $n_in records, expected ≥ 101 (handshake + 100)"
[ "$n_out" -ge 100 ] || fail "airlock.stream.bob.out holds $n_out records, expected ≥ 100 echoes"
for s in bob.in bob.out; do
    kcat_in -t "airlock.stream.$s" -f '%s\n' >"$WORK/$s.dump"
    [ -s "$WORK/$s.dump" ] || fail "kcat read nothing from airlock.stream.$s"
    for needle in "message 42" "message " echoer alice_inbox; do
        if grep -a -q -F "$needle" "$WORK/$s.dump"; then fail "airlock.stream.$s holds '$needle' in the clear (kcat)"; fi
        rc=0
        kafka_log_grep "$KAFKA_DATA_DIR" "$needle" "airlock.stream.$s" >/dev/null || rc=$?
        [ $rc = 1 ] || fail "the broker's files of airlock.stream.$s: kafka_log_grep '$needle' returned $rc (0: found, 2: no file)"
    done
done
# Positive controls: what is stored in the clear is found by the same means — the onward route
# `api` of Alice's handshake (routes are not encrypted, docs/protocol.md §12.4) and Bob's position key.
grep -a -q -F api "$WORK/bob.in.dump" || fail "positive control: the handshake's route 'api' is not in kcat's dump of bob.in"
kafka_log_grep "$KAFKA_DATA_DIR" api airlock.stream.bob.in >/dev/null ||
    fail "positive control: the handshake's route 'api' is not greppable in bob.in's data file"
kafka_log_grep "$KAFKA_DATA_DIR" "$BOB_ID/bob/bob.in" airlock.stream-index >/dev/null ||
    fail "positive control: Bob's position key is not greppable in the index topic's data file"
timing "ciphertext checks" "$t"
pass "bob.in: $n_in records, bob.out: $n_out; neither 'message 42', 'message ', 'echoer' nor 'alice_inbox' in them (kcat, data files); controls: the handshake's route 'api' is found there, Bob's position key in airlock.stream-index"

log "4+5. Bob killed mid-stream; Alice's new handshake waits in Kafka until he is back"
t=$(now_ms)
B2=(--name bob2 --identity-file "$WORK/bob2.id" --journal "$WORK/bob2.journal")
start_bob "$WORK/bob2.out" "${B2[@]}"
BOB2_ID=$(line_value identifier "$WORK/bob2.out")
start_alice "$WORK/alice2.out" --to bob2.in,bob2.out --bob "$BOB2_ID" --count 100 --window 5 --json --timeout-secs 150
wait_received "$WORK/bob2.out" 30 60 ||
    fail "Bob (bob2) received $(received "$WORK/bob2.out") messages within 60 s: $(tail -3 "$WORK/alice2.out.err")"
kill_wait "$BOB_PID" KILL
before=$(received "$WORK/bob2.out")
[ "$before" -lt 100 ] || fail "not mid-stream: Bob had received all 100 before he was killed"
down_at=$(records bob2.in)
t_down=$(now_ms)
wait_until 30 grep -q "opening a new secure channel" "$WORK/alice2.out" ||
    fail "Alice did not notice Bob was gone within 30 s: $(tail -3 "$WORK/alice2.out")"
wait_until 20 records_more_than bob2.in "$down_at" ||
    fail "nothing was pushed to bob2.in while Bob was down (still $down_at records)"
kill -0 "$ALICE_PID" 2>/dev/null || fail "Alice gave up while Bob was down: $(tail -3 "$WORK/alice2.out")"
pushed_down=$(($(records bob2.in) - down_at))
start_bob "$WORK/bob2-restarted.out" "${B2[@]}"
downtime=$(secs_since "$t_down")
resumed=$(line_value "resumed at" "$WORK/bob2-restarted.out")
[ "$(line_value identifier "$WORK/bob2-restarted.out")" = "$BOB2_ID" ] || fail "the restarted Bob has another identifier"
[ "$resumed" -gt 0 ] && [ "$resumed" -le "$down_at" ] ||
    fail "the restarted Bob resumed at $resumed, expected 1…$down_at (his saved position, before what was pushed while he was down)"
wait_exit "$ALICE_PID" 150
[ "$RC" = 0 ] || fail "Alice exited $RC: $(tail -3 "$WORK/alice2.out") $(tail -3 "$WORK/alice2.out.err")"
timing "bob2: kill -9 at >= 30, restart, 100 echoed" "$t"
[ "$(json echoed "$WORK/alice2.out")" = 100 ] || fail "echoed: $(grep '^{' "$WORK/alice2.out")"
[ "$(json reopened "$WORK/alice2.out")" -ge 1 ] || fail "Alice opened no new channel: $(grep '^{' "$WORK/alice2.out")"
journal_check "$WORK/bob2.journal" 100
again=$(grep -c '^already delivered: ' "$WORK/bob2-restarted.out" || true)
pass "Bob killed after $before received; $pushed_down record(s) pushed to bob2.in during his ${downtime} s away; restarted, he resumed at $resumed ≤ $down_at and answered; Alice: 100 echoed, $(json reopened "$WORK/alice2.out") new channel(s), $(json duplicates "$WORK/alice2.out") duplicate echo(es); journal: each message once ($again sent again and recognised)"

log "6. the hub restarts while Alice and Bob (bob3) are talking"
# Bob is frozen (SIGSTOP) once he has 30 messages, so that the restart falls mid-stream however
# fast the round trips are; Alice's stall limit is raised so she keeps her channel: the secure
# channel through the streams must outlive the hub's restart.
t=$(now_ms)
B3=(--name bob3 --identity-file "$WORK/bob3.id" --journal "$WORK/bob3.journal")
start_bob "$WORK/bob3.out" "${B3[@]}"
BOB3_ID=$(line_value identifier "$WORK/bob3.out")
start_alice "$WORK/alice3.out" --to bob3.in,bob3.out --bob "$BOB3_ID" --count 100 --stall-secs 60 --json \
    --timeout-secs 150
wait_received "$WORK/bob3.out" 30 60 || fail "Bob (bob3) received $(received "$WORK/bob3.out") messages within 60 s"
kill -STOP "$BOB_PID"
at_stop=$(received "$WORK/bob3.out")
[ "$at_stop" -lt 100 ] || fail "not mid-stream: Bob had received all 100 before the hub stopped"
t_stop=$(now_ms)
as hub node stop hub >/dev/null 2>&1 || fail "node stop hub"
if testbed_tcp_connect "$NS_BANK" "$PROJECT_IP_FOR_BANK" $HUB_PORT 2 2>/dev/null; then fail "the stopped hub still answers"; fi
# Only the hub writes the index topic: what it holds now is what the restarted hub must read back.
keys_before=$(positions | wc -l)
as hub node start hub --kafka-bootstrap "$KAFKA" --trust-anyone >"$WORK/hub-start.log" 2>&1 ||
    fail "node start hub: $(tail -5 "$WORK/hub-start.log")"
testbed_wait_port "$NS_BANK" "$PROJECT_IP_FOR_BANK" $HUB_PORT 20 2>/dev/null || fail "the restarted hub does not answer"
hub_down=$(secs_since "$t_stop")
kill -CONT "$BOB_PID"
wait_until 20 eval '[ "$(grep -c "stream hub connected to Kafka" "$HUB_LOG")" -ge 2 ]' ||
    fail "the restarted hub's log has no second 'connected' line: $(tail -5 "$HUB_LOG")"
read_back=$(grep "stream hub connected to Kafka" "$HUB_LOG" | tail -1 | sed -n 's/.*positions=\([0-9]*\).*/\1/p')
[ "$read_back" = "$keys_before" ] ||
    fail "the restarted hub read ${read_back:-no} positions, the index topic held $keys_before: $(grep "stream hub connected" "$HUB_LOG" | tail -1)"
t_back=$(now_ms)
wait_exit "$ALICE_PID" 150
[ "$RC" = 0 ] || fail "Alice exited $RC: $(tail -3 "$WORK/alice3.out") $(tail -3 "$WORK/alice3.out.err")"
after_restart=$(secs_since "$t_back")
timing "bob3: hub stop/start at >= 30, 100 echoed" "$t"
[ "$(json echoed "$WORK/alice3.out")" = 100 ] || fail "echoed: $(grep '^{' "$WORK/alice3.out")"
[ "$(json reopened "$WORK/alice3.out")" = 0 ] ||
    fail "Alice had to open a new secure channel after the hub restart: $(grep '^{' "$WORK/alice3.out")"
journal_check "$WORK/bob3.journal" 100
end3=$(records bob3.in)
BOB3_KEY="$BOB3_ID/bob/bob3.in"
wait_until 20 position_is "$BOB3_KEY" "$end3" ||
    fail "Bob's saved position in bob3.in is '$(position_of "$BOB3_KEY")', not the end $end3"
kill_wait "$BOB_PID" TERM
start_bob "$WORK/bob3-restarted.out" "${B3[@]}"
[ "$(line_value "resumed at" "$WORK/bob3-restarted.out")" = "$end3" ] ||
    fail "Bob restarted after the hub restart resumed at $(line_value "resumed at" "$WORK/bob3-restarted.out"), expected $end3"
pass "hub down ${hub_down} s with Bob at $at_stop of 100 (frozen); it read $read_back saved positions back from Kafka; Alice ended ${after_restart} s later: 100 echoed on the same secure channel (0 new); journal: each message once; Bob's position = end of bob3.in ($end3), and a restarted Bob resumed there"

log "7. attack: Mallory saves positions under Bob's client id for Bob's inbox"
t=$(now_ms)
kill_wait "$BOB_PID" TERM
bob_pos=$(position_of "$BOB3_KEY")
[ "$bob_pos" = "$end3" ] || fail "Bob's position moved to $bob_pos before the attack"
# Mallory writes into bob3.in and reads it herself (her own node answers her handshake), so her
# link saves positions as client "bob" of stream bob3.in.
start_alice "$WORK/mallory.out" --identity-file "$WORK/mallory.id" --client-id bob --to bob3.in,bob3.in \
    --count 1 --timeout-secs 60
# Saved: a position for client "bob" of bob3.in beyond Bob's (under whichever identity).
mallory_saved() { positions | awk -v p="$bob_pos" '$1 ~ /\/bob\/bob3\.in$/ && $2 > p { f = 1 } END { exit !f }'; }
wait_until 40 mallory_saved || fail "Mallory saved no position for bob/bob3.in within 40 s: $(positions | grep bob3.in)"
kill_wait "$ALICE_PID" KILL
[ "$(position_of "$BOB3_KEY")" = "$bob_pos" ] || fail "Mallory moved Bob's position from $bob_pos to $(position_of "$BOB3_KEY")"
mallory_key=$(positions | awk -v own="$BOB3_KEY" '$1 ~ /\/bob\/bob3\.in$/ && $1 != own { print $1 " = " $2 }')
[ -n "$mallory_key" ] || fail "no key of Mallory's in the index topic: $(positions | grep bob3.in)"
start_bob "$WORK/bob3-after-attack.out" "${B3[@]}"
[ "$(line_value "resumed at" "$WORK/bob3-after-attack.out")" = "$bob_pos" ] ||
    fail "after Mallory's saves Bob resumed at $(line_value "resumed at" "$WORK/bob3-after-attack.out"), expected his own $bob_pos"
end_attack=$(records bob3.in)
wait_until 20 position_is "$BOB3_KEY" "$end_attack" || fail "Bob did not read on to the end of bob3.in ($end_attack)"
journal_check "$WORK/bob3.journal" 100
timing "attack" "$t"
pass "Mallory's saves went to her own key (${mallory_key%% = *} = ${mallory_key##* = }); Bob's stayed $bob_pos and he resumed there; her $((end_attack - bob_pos)) records in bob3.in delivered nothing to his journal"

kill_wait "$BOB_PID" TERM
timing "total" "$T_ALL"
printf '\ntimings:\n' >&2
printf '  %s\n' "${TIMINGS[@]}" >&2
echo "streams: all checks passed" >&2
