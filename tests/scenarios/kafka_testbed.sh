#!/usr/bin/env bash
# Scenario: the Kafka test bed itself (tests/testbed/kafka.sh), without airlock (issue #12).
#
#   kt_bank     one Apache Kafka 4.1.1 KRaft node on BANK_IP: PLAINTEXT :9092, SASL_SSL :9192
#   kt_project  the clients (Java console tools, kcat), over the bank <-> project link
#   kt_analysis no route to the broker
#
# Asserts: 8 lines produced with the console producer come back identical from the console consumer
# and from kcat; they are greppable in the broker's data files (the positive control of every later
# "broker holds only ciphertext" check); kcat -L lists the broker and the topic; the analysis
# namespace cannot reach the broker; over SASL_SSL (self-signed CA) the same round trip works as
# alice, and with a wrong password the producer's records never arrive (the console producer exits
# 0 anyway), the consumer and kcat -L fail.
# KAFKA_TESTBED_CLUSTER=1 adds a 3-node cluster with a 3-partition topic replicated 3 times.
set -euo pipefail
export TESTBED_PREFIX="${TESTBED_PREFIX:-kt_}"
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/testbed/kafka.sh"
[ "$(id -u)" = 0 ] || fail "the scenario needs root (network namespaces)"

WORK="$(mktemp -d /tmp/airlock-kafka-testbed.XXXXXX)"
[ -n "${KEEP_WORK:-}" ] || on_exit "rm -rf '$WORK'"
on_exit "testbed_down"
on_exit "kafka_stop"

TIMINGS=()
T_ALL=$(date +%s%3N)
# `timed LABEL CMD...` runs CMD in this shell (kafka_start must not run in a subshell) and records
# how long it took, also when it fails.
timed() {
    local label=$1 t0 rc=0
    shift
    t0=$(date +%s%3N)
    "$@" || rc=$?
    TIMINGS+=("$(awk -v l="$label" -v ms="$(($(date +%s%3N) - t0))" 'BEGIN { printf "%-46s %6.1f s", l, ms / 1000 }')")
    return $rc
}
print_timings() {
    printf '\ntimings:\n' >&2
    printf '  %s\n' "${TIMINGS[@]}" >&2
    awk -v ms="$(($(date +%s%3N) - T_ALL))" 'BEGIN { printf "  %-46s %6.1f s\n", "total", ms / 1000 }' >&2
}
# The table also when a check fails (run_cleanup silences everything it runs).
trap 'print_timings; run_cleanup' EXIT
# kafka_consume's stdout into a file (no $(...) needed, the tool log stays readable)
consume_to() { local out=$1; shift; kafka_consume "$@" >"$out"; }

log "installing Kafka $KAFKA_VERSION (cached in $KAFKA_HOME) and kcat"
timed "kafka_install" kafka_install || fail "kafka_install"
TIMINGS[-1]="${TIMINGS[-1]} ($([ "$KAFKA_INSTALL_CACHED" = 1 ] && echo 'warm: cached' || echo 'cold: Maven Central'))"
pass "Kafka $KAFKA_VERSION jars in $KAFKA_LIB, kcat $(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\).*/\1/p')"

log "network namespaces"
timed "testbed_up" testbed_up || fail "testbed_up"
testbed_assert_isolated >/dev/null 2>&1 || fail "namespaces are not isolated"
pass "$NS_BANK and $NS_ANALYSIS reach only $NS_PROJECT"

log "one KRaft node in $NS_BANK on $BANK_IP (PLAINTEXT + SASL_SSL)"
timed "kafka_start (1 node, SASL_SSL)" kafka_start "$NS_BANK" "$BANK_IP" bank --sasl || fail "kafka_start"
listening="$(ip netns exec "$NS_BANK" ss -Hltn | awk '{print $4}' | sort | tr '\n' ' ')"
for port in 9092 9192 9292; do
    [[ " $listening" == *" $BANK_IP:$port "* ]] || fail "nothing listens on $BANK_IP:$port in $NS_BANK ($listening)"
done
if ss -Hltn | awk '{print $4}' | grep -qE ':(9092|9192|9292)$'; then fail "a Kafka port listens in the host namespace"; fi
pass "broker (pid $KAFKA_PID) listens on $BANK_IP:9092/9192/9292 inside $NS_BANK only; log $KAFKA_LOG"

log "PLAINTEXT: topic, console producer and consumer from $NS_PROJECT"
B=$KAFKA_BOOTSTRAP
timed "kafka_topic_create (uncompressed)" \
    kafka_topic_create "$NS_PROJECT" "$B" plain-probe --config compression.type=uncompressed || fail "topic create"
printf 'message %s\n' 1 2 3 4 5 6 7 8 >"$WORK/sent"
timed "kafka_produce (8 lines)" kafka_produce "$NS_PROJECT" "$B" plain-probe <"$WORK/sent" || fail "produce"
timed "kafka_consume (8 lines)" consume_to "$WORK/got" "$NS_PROJECT" "$B" plain-probe 8 || fail "consume"
diff "$WORK/sent" "$WORK/got" >&2 || fail "consumed lines differ from the produced ones"
pass "8 lines produced and consumed back identical"

hits="$(kafka_log_grep "$KAFKA_DATA_DIR" "message " plain-probe)" || fail "positive control: no plaintext in $KAFKA_DATA_DIR"
[ "${hits##*: }" = 8 ] || fail "positive control: expected 8 plaintext records, grep found: $hits"
rc=0; kafka_log_grep "$KAFKA_DATA_DIR" "never-sent-$RANDOM$RANDOM" >/dev/null || rc=$?
[ $rc = 1 ] || fail "kafka_log_grep of a string never sent returned $rc, expected 1"
pass "positive control: the 8 plaintext records are greppable in ${hits%%: *}"

timed "kcat -L (PLAINTEXT)" eval 'meta="$(kafka_kcat "$NS_PROJECT" -b "$B" -L -m 10 2>&1)"' || fail "kcat -L: $meta"
grep -q "broker 1 at $BANK_IP:9092" <<<"$meta" || fail "kcat -L does not list the broker: $meta"
grep -q 'topic "plain-probe" with 1 partitions' <<<"$meta" || fail "kcat -L does not list the topic: $meta"
timed "kcat consume (PLAINTEXT)" eval 'kafka_kcat "$NS_PROJECT" -b "$B" -C -t plain-probe -o beginning -e -q >"$WORK/got-kcat"' ||
    fail "kcat consume"
diff "$WORK/sent" "$WORK/got-kcat" >&2 || fail "kcat read other lines"
pass "kcat -L lists broker 1 at $BANK_IP:9092 and the topic; kcat reads the same 8 lines"

if err="$(testbed_tcp_connect "$NS_ANALYSIS" "$BANK_IP" 9092 2>&1)"; then fail "$NS_ANALYSIS reached the broker"; fi
pass "$NS_ANALYSIS cannot reach the broker (${err#connect })"

log "SASL_SSL ($KAFKA_BOOTSTRAP_SASL, CA $KAFKA_CA) as $KAFKA_SASL_USER"
S=$KAFKA_BOOTSTRAP_SASL
timed "kafka_topic_create (SASL_SSL)" kafka_topic_create "$NS_PROJECT" "$S" secure-probe \
    --command-config "$KAFKA_CLIENT_PROPS" --config compression.type=uncompressed || fail "topic create over SASL_SSL"
printf 'secure message %s\n' 1 2 3 4 5 6 7 8 >"$WORK/sent-secure"
timed "kafka_produce (SASL_SSL)" kafka_produce "$NS_PROJECT" "$S" secure-probe "$KAFKA_CLIENT_PROPS" <"$WORK/sent-secure" ||
    fail "produce over SASL_SSL"
timed "kafka_consume (SASL_SSL)" consume_to "$WORK/got-secure" "$NS_PROJECT" "$S" secure-probe 8 g-alice "$KAFKA_CLIENT_PROPS" ||
    fail "consume over SASL_SSL"
diff "$WORK/sent-secure" "$WORK/got-secure" >&2 || fail "SASL_SSL: consumed lines differ"
timed "kcat -L (SASL_SSL)" eval 'meta="$(kafka_kcat "$NS_PROJECT" -b "$S" -F "$KAFKA_KCAT_PROPS" -L -m 10 2>&1)"' ||
    fail "kcat -L over SASL_SSL: $meta"
grep -q "broker 1 at $BANK_IP:9192" <<<"$meta" || fail "kcat -L over SASL_SSL does not list the broker: $meta"
pass "SASL_SSL: 8 lines round trip as $KAFKA_SASL_USER (console tools), kcat -L lists broker 1 at $BANK_IP:9192"

log "SASL_SSL with a wrong password"
kafka_client_props "$WORK/wrong.properties" "$KAFKA_SASL_USER" not-the-password java
kafka_client_props "$WORK/wrong-kcat.properties" "$KAFKA_SASL_USER" not-the-password kcat
printf 'intruder message %s\n' 1 2 3 >"$WORK/sent-intruder"
rc=0
timed "kafka_produce (wrong password)" kafka_produce "$NS_PROJECT" "$S" secure-probe "$WORK/wrong.properties" \
    <"$WORK/sent-intruder" 2>/dev/null || rc=$?
grep -q 'Authentication failed' "$KAFKA_TOOL_LOG" || fail "the producer did not report the failed login (exit $rc)"
echo 'secure message 9' >"$WORK/sent-9"
kafka_produce "$NS_PROJECT" "$S" secure-probe "$KAFKA_CLIENT_PROPS" <"$WORK/sent-9" || fail "produce message 9"
consume_to "$WORK/got-secure" "$NS_PROJECT" "$S" secure-probe 9 - "$KAFKA_CLIENT_PROPS" || fail "consume 9 over SASL_SSL"
printf 'secure message %s\n' 1 2 3 4 5 6 7 8 9 | diff - "$WORK/got-secure" >&2 ||
    fail "the topic holds other records than alice's 9"
if kafka_log_grep "$KAFKA_DATA_DIR" "intruder" >/dev/null; then fail "intruder records reached the broker's files"; fi
pass "wrong password: the producer logs 'Authentication failed' (exit $rc); none of its records reached the topic"
if timed "kafka_consume (wrong password)" consume_to /dev/null "$NS_PROJECT" "$S" secure-probe 1 - \
    "$WORK/wrong.properties" 2>/dev/null; then fail "the consumer with a wrong password read a record"; fi
grep -q 'Authentication failed' "$KAFKA_TOOL_LOG" || fail "the consumer failed without naming the login: $(tail -3 "$KAFKA_TOOL_LOG")"
if meta="$(kafka_kcat "$NS_PROJECT" -b "$S" -F "$WORK/wrong-kcat.properties" -L -m 5 2>&1)"; then
    fail "kcat -L with a wrong password succeeded"
fi
pass "wrong password: the console consumer and kcat -L fail ($(grep -o 'Authentication failed[^.]*' <<<"$meta" | head -1))"

if [ -n "${KAFKA_TESTBED_CLUSTER:-}" ]; then
    log "3-node cluster in $NS_BANK (ports 9492-9494, controllers 9592-9594)"
    timed "kafka_start (3 nodes)" kafka_start "$NS_BANK" "$BANK_IP" cluster --nodes 3 --port 9492 \
        --controller-port 9592 --xmx 256m || fail "kafka_start --nodes 3"
    C=$KAFKA_BOOTSTRAP
    timed "kafka_topic_create (3 partitions x RF 3)" kafka_topic_create "$NS_PROJECT" "$C" replicated 3 \
        --replication-factor 3 --config min.insync.replicas=2 --config compression.type=uncompressed ||
        fail "topic create on the cluster"
    timed "kafka_produce (cluster)" kafka_produce "$NS_PROJECT" "$C" replicated - --producer-property acks=all \
        <"$WORK/sent" || fail "produce to the cluster"
    timed "kafka_consume (cluster)" consume_to "$WORK/got-cluster" "$NS_PROJECT" "$C" replicated 8 || fail "consume from the cluster"
    sort "$WORK/got-cluster" | diff "$WORK/sent" - >&2 || fail "cluster: consumed lines differ"
    meta="$(kafka_kcat "$NS_PROJECT" -b "$C" -L -t replicated -m 10 2>&1)" || fail "kcat -L on the cluster: $meta"
    [ "$(grep -c 'broker [123] at' <<<"$meta")" = 3 ] || fail "kcat -L does not list 3 brokers: $meta"
    for d in "${KAFKA_DATA_DIRS[@]}"; do
        hits="$(kafka_log_grep "$d" "message " replicated | awk -F': ' '{ n += $2 } END { print n + 0 }')"
        [ "$hits" = 8 ] || fail "$d holds $hits of the 8 records (replication factor 3)"
    done
    pass "3-node cluster: 8 lines over 3 partitions round trip; every node's files hold all 8; kcat -L lists 3 brokers"
    timed "kafka_stop (3 nodes)" kafka_stop "${KAFKA_NODE_PIDS[@]}"
fi

log "teardown"
pids=("${KAFKA_PIDS[@]}")
timed "kafka_stop" kafka_stop
for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then fail "broker pid $pid still runs after kafka_stop"; fi
done
timed "testbed_down" testbed_down
if ip netns list | grep -q "^$TESTBED_PREFIX"; then fail "namespaces left: $(ip netns list | tr '\n' ' ')"; fi
pass "brokers stopped, namespaces gone"
echo "kafka_testbed: all checks passed" >&2
