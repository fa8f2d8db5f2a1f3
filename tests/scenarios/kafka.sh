#!/usr/bin/env bash
# Scenario (seed 000): Apache Kafka with end-to-end encrypted records, through Kafka portals
# between isolated networks.
#
#   ka_bank     "Kafka operator": Apache Kafka 4.1.1 (KRaft) on its own loopback, operator node with
#               relay "kafka", kafka-outlet, kafka-outlet policy
#      └── only link ──▶ ka_project (self-hosted project node: authority, relays, key directory)
#   ka_analysis "Application team": a producer node and a consumer node, each with an encrypting
#               kafka-inlet and kafka-inlet / kafka-consumer / kafka-producer policies; an outsider
#               member that the producer's kafka-consumer policy does not admit; the stock Kafka
#               console clients and kcat
#      └── only link ──▶ ka_project
#
# Asserts: the application team cannot reach the broker directly; the seed's 8 messages go from the
# console producer (through the producer's inlet) to the console consumer (through the consumer's
# inlet) and the broker's files hold none of them in the clear (positive control: a topic written
# through an inlet with --disable-content-encryption is greppable there); two consumer groups and
# kcat each read all 8; the consumer node restarted reads them again from offset 0; the outsider
# gets an error, not data; every compression codec round trips; kcat -L through an inlet sees
# every broker at a local port of the inlet's range; an identity without kafka-inlet=true is
# refused by the outlet; a 3-broker cluster with a 3-partition topic replicated 3 times works
# through one inlet; the producer's node restarts and gets its data keys back from the key
# directory; a consumer node enrolled after that reads the topic from offset 0 once the
# producer's membership check granted it the producer's retained keys (its /metrics counts the
# records it decrypted); after its membership is deleted, the producer's next key is made without
# it (the producer's log: the consumers changed, one left; the key's consumer count drops).
# kafka-python (a pure-Python client) produces and consumes through the same inlets; an inlet with
# --encrypted-field pin seals only that field of JSON values (the broker sees the rest); a
# transactional producer commits two transactions and aborts one, and read_committed consumers
# (kafka-python, console) read exactly the committed records, decrypted; a group offset sent
# within the aborted transaction does not count.
set -euo pipefail
export TESTBED_PREFIX="${TESTBED_PREFIX:-ka_}"
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/testbed/kafka.sh"
source "$ROOT/tests/lib/airlock.sh"
[ -x "$AIRLOCK" ] || fail "build first: cargo build --release"
[ "$(id -u)" = 0 ] || fail "the scenario needs root (network namespaces)"

WORK="$(mktemp -d /tmp/airlock-kafka.XXXXXX)"
on_exit "rm -rf '$WORK'"
on_exit "testbed_down"
on_exit "kafka_stop"

log "installing Kafka $KAFKA_VERSION (cached in $KAFKA_HOME) and kcat"
kafka_install >/dev/null || fail "kafka_install"

log "network namespaces"
testbed_up
testbed_assert_isolated >/dev/null 2>&1 || fail "namespaces are not isolated"
testbed_project_name project.airlock.test || fail "hosts files for the namespaces"
pass "the Kafka operator's and the application team's networks reach only the project host"

# Each party's airlock state is $WORK/PARTY; `as PARTY cmd…` runs airlock in its namespace.
parties admin="$NS_PROJECT" operator="$NS_BANK" producer="$NS_ANALYSIS" consumer="$NS_ANALYSIS" \
    outsider="$NS_ANALYSIS" intruder="$NS_ANALYSIS" latecomer="$NS_ANALYSIS"
consume_to() { local out=$1; shift; kafka_consume "$@" >"$out"; }

log "Kafka operator: one KRaft broker on its own loopback"
kafka_start "$NS_BANK" 127.0.0.1 operator --port 9092 >/dev/null || fail "kafka_start"
if testbed_tcp_connect "$NS_ANALYSIS" "$BANK_IP" 9092 2 2>/dev/null; then fail "the application team reached the broker directly"; fi
pass "broker at 127.0.0.1:9092 inside $NS_BANK (pid $KAFKA_PID); unreachable from $NS_ANALYSIS"

log "administrator: self-hosted project, tickets"
as admin project create --listen 0.0.0.0:4000 --public-address project.airlock.test:4000 >/dev/null 2>&1 ||
    fail "project create"
OPERATOR_TICKET=$(ticket --attribute kafka-outlet=true --relay kafka)
PRODUCER_TICKET=$(ticket --attribute kafka-inlet=true --attribute kafka-producer=true)
CONSUMER_TICKET=$(ticket --attribute kafka-inlet=true --attribute kafka-consumer=true)
OUTSIDER_TICKET=$(ticket --attribute kafka-inlet=true)
INTRUDER_TICKET=$(ticket --attribute team=other)
pass "project created, five tickets issued"

log "Kafka operator: node, relay kafka, policy, kafka-outlet"
as operator project enroll "$OPERATOR_TICKET" >/dev/null 2>&1 || fail "operator enroll"
as operator node create >/dev/null 2>&1 || fail "operator node"
as operator relay create kafka >/dev/null 2>&1 || fail "operator relay"
as operator policy create --resource-type kafka-outlet --expression '(= subject.kafka-inlet "true")' >/dev/null ||
    fail "kafka-outlet policy"
as operator kafka-outlet create --bootstrap-server 127.0.0.1:9092 >/dev/null || fail "kafka-outlet create"
pass "operator node with relay kafka and a Kafka outlet to 127.0.0.1:9092"

log "application team: producer, consumer and outsider nodes with encrypting Kafka inlets via the relay"
for party in producer consumer outsider; do
    case $party in producer) t=$PRODUCER_TICKET ;; consumer) t=$CONSUMER_TICKET ;; outsider) t=$OUTSIDER_TICKET ;; esac
    kafka_member $party "$t" '(= subject.kafka-outlet "true")'
done
# Consumers first: a producer grants keys to the consumers listed when it makes them.
as consumer kafka-inlet create --from 127.0.0.1:29092 --to /project/default/service/forward_to_kafka/secure/api \
    >/dev/null || fail "consumer kafka-inlet create"
as outsider kafka-inlet create --from 127.0.0.1:39092 >/dev/null || fail "outsider kafka-inlet create"
as producer kafka-inlet create --from 127.0.0.1:19092 >/dev/null || fail "producer kafka-inlet create"
as producer kafka-inlet create --name clear --from 127.0.0.1:17092 --disable-content-encryption >/dev/null ||
    fail "producer's clear kafka-inlet create"
[ "$(json_field consumer encrypt kafka-inlet show kafka-inlet-1)" = True ] || fail "the consumer's inlet does not encrypt"
pass "inlets: consumer 127.0.0.1:29092 (the seed's --to), outsider :39092, producer :19092 (--via kafka by default), producer's clear one :17092"

log "the seed's 8 messages, encrypted end to end"
P=127.0.0.1:19092
C=127.0.0.1:29092
kafka_topic_create "$NS_ANALYSIS" "$P" demo 1 --config compression.type=uncompressed || fail "topic create through the producer inlet"
printf 'message %s\n' 1 2 3 4 5 6 7 8 >"$WORK/sent"
kafka_produce "$NS_ANALYSIS" "$P" demo <"$WORK/sent" || fail "produce through the producer inlet"
consume_to "$WORK/got" "$NS_ANALYSIS" "$C" demo 8 group-a || fail "consume through the consumer inlet"
diff "$WORK/sent" "$WORK/got" >&2 || fail "consumed lines differ from the produced ones"
pass "8 messages from the console producer (producer inlet) to the console consumer (consumer inlet), identical"

kafka_topic_create "$NS_ANALYSIS" 127.0.0.1:17092 clear 1 --config compression.type=uncompressed || fail "clear topic"
echo "clear marker $RANDOM" >"$WORK/clear"
kafka_produce "$NS_ANALYSIS" 127.0.0.1:17092 clear <"$WORK/clear" || fail "produce through the clear inlet"
kafka_log_grep "$KAFKA_DATA_DIR" "$(cat "$WORK/clear")" clear >/dev/null ||
    fail "positive control: a record sent in the clear is not greppable in $KAFKA_DATA_DIR"
rc=0
kafka_log_grep "$KAFKA_DATA_DIR" "message " demo >/dev/null || rc=$?
[ $rc = 1 ] || fail "the broker's files hold plaintext of the demo topic (kafka_log_grep returned $rc)"
pass "the broker's files hold no plaintext of the 8 (while a record sent through the clear inlet is there)"

consume_to "$WORK/got-b" "$NS_ANALYSIS" "$C" demo 8 group-b || fail "second consumer group"
diff "$WORK/sent" "$WORK/got-b" >&2 || fail "group-b read other lines"
kafka_kcat "$NS_ANALYSIS" -b "$C" -C -t demo -o beginning -e -q >"$WORK/got-kcat" || fail "kcat consume"
diff "$WORK/sent" "$WORK/got-kcat" >&2 || fail "kcat read other lines"
pass "a second consumer group and kcat (librdkafka) read the same 8"

as consumer node stop default >/dev/null 2>&1 || fail "stop the consumer node"
as consumer node start default >/dev/null 2>&1 || fail "start the consumer node"
wait_until 30 eval '[ "$(json_field consumer status kafka-inlet show kafka-inlet-1)" = up ]' ||
    fail "the consumer's inlet did not come back"
consume_to "$WORK/got-restart" "$NS_ANALYSIS" "$C" demo 8 group-after-restart || fail "consume after the restart"
diff "$WORK/sent" "$WORK/got-restart" >&2 || fail "read other lines after the restart"
pass "the consumer node restarted reads the 8 again from offset 0"

if KAFKA_CONSUME_TIMEOUT_MS=15000 consume_to "$WORK/got-outsider" "$NS_ANALYSIS" 127.0.0.1:39092 demo 1 group-outsider 2>/dev/null; then
    fail "the outsider read records: $(head -3 "$WORK/got-outsider")"
fi
if grep -q "message" "$WORK/got-outsider"; then fail "the outsider got plaintext"; fi
grep -qi "corrupt" "$KAFKA_TOOL_LOG" || fail "the outsider's consumer failed without the decryption error: $(tail -5 "$KAFKA_TOOL_LOG")"
pass "a member the producer's kafka-consumer policy does not admit gets an error, not data ($(grep -oi -m1 'corrupt[^.]*' "$KAFKA_TOOL_LOG"))"

for codec in gzip snappy lz4 zstd; do
    printf '%s message %s\n' "$codec" 1 2 >"$WORK/sent-$codec"
    kafka_produce "$NS_ANALYSIS" "$P" "codec-$codec" - --compression-codec "$codec" <"$WORK/sent-$codec" ||
        fail "produce with $codec"
    consume_to "$WORK/got-$codec" "$NS_ANALYSIS" "$C" "codec-$codec" 2 "group-$codec" || fail "consume $codec"
    diff "$WORK/sent-$codec" "$WORK/got-$codec" >&2 || fail "$codec: consumed lines differ"
done
pass "gzip, snappy, lz4 and zstd batches round trip encrypted"

log "kafka-python $KAFKA_PYTHON_VERSION (a pure-Python client) through the same inlets"
kafka_python_install || fail "kafka_python_install"
kafka_topic_create "$NS_ANALYSIS" "$P" python 1 --config compression.type=uncompressed || fail "topic python"
printf 'python record %s\n' 1 2 3 4 >"$WORK/sent-py"
kafka_py_produce "$NS_ANALYSIS" "$P" python <"$WORK/sent-py" || fail "kafka-python produce through the producer inlet"
kafka_py_consume "$NS_ANALYSIS" "$C" python 4 group-py >"$WORK/got-py" || fail "kafka-python consume through the consumer inlet"
diff "$WORK/sent-py" "$WORK/got-py" >&2 || fail "kafka-python: consumed values differ from the produced ones"
rc=0
kafka_log_grep "$KAFKA_DATA_DIR" "python record" python >/dev/null || rc=$?
[ $rc = 1 ] || fail "the broker's files hold kafka-python's records in the clear (kafka_log_grep returned $rc)"
pass "kafka-python produced 4 records through the producer inlet and read them back through the consumer inlet; the broker holds none in the clear"

log "--encrypted-field pin: only that field of JSON values is sealed"
as producer kafka-inlet create --name fields --from 127.0.0.1:18092 --brokers-port-range 18093-18099 \
    --encrypted-field pin >/dev/null || fail "producer's field-encrypting kafka-inlet create"
kafka_topic_create "$NS_ANALYSIS" 127.0.0.1:18092 fields 1 --config compression.type=uncompressed || fail "topic fields"
printf '{"id":%s,"pin":"secret-pin-%s"}\n' 1 1 2 2 3 3 >"$WORK/sent-fields"
kafka_produce "$NS_ANALYSIS" 127.0.0.1:18092 fields <"$WORK/sent-fields" || fail "produce JSON through the field-encrypting inlet"
consume_to "$WORK/got-fields" "$NS_ANALYSIS" "$C" fields 3 group-fields || fail "consume the field-encrypted topic"
diff "$WORK/sent-fields" "$WORK/got-fields" >&2 || fail "field-encrypted JSON read back differs"
rc=0
kafka_log_grep "$KAFKA_DATA_DIR" "secret-pin-" fields >/dev/null || rc=$?
[ $rc = 1 ] || fail "the broker's files hold the pin fields in the clear (kafka_log_grep returned $rc)"
kafka_log_grep "$KAFKA_DATA_DIR" '"pin":"airlock:v1:' fields >/dev/null || fail "the broker's files hold no sealed pin field"
kafka_log_grep "$KAFKA_DATA_DIR" '{"id":2,' fields >/dev/null || fail "the clear id field is not readable at the broker"
pass "3 JSON records with a sealed pin field: read back identical by the consumer (no option needed there); the broker sees id in the clear, pin only as airlock:v1:…"

log "a transactional producer (kafka-python) and read_committed consumers"
# Transactions use InitProducerId, FindCoordinator (key_type 1), AddPartitionsToTxn,
# AddOffsetsToTxn, TxnOffsetCommit and EndTxn: client APIs that carry no records, so the inlets
# and the outlet pass them as they are (only the broker-to-broker WriteTxnMarkers is refused); the
# batches keep their producer id, epoch, sequence and transactional flag, and the transaction
# markers (control batches) pass unencrypted. Each transaction but the last also commits an
# offset of group txn-app (send_offsets_to_transaction), so that only the committed one counts.
kafka_topic_create "$NS_ANALYSIS" "$P" txn 1 --config compression.type=uncompressed || fail "topic txn"
printf 'committed first %s\n' 1 2 3 >"$WORK/txn-1"
printf 'aborted %s\n' 1 2 >"$WORK/txn-aborted"
printf 'committed second %s\n' 1 2 >"$WORK/txn-2"
kafka_py_produce "$NS_ANALYSIS" "$P" txn --transactional-id airlock-txn --send-offset txn-app:3 <"$WORK/txn-1" || fail "first transaction"
kafka_py_produce "$NS_ANALYSIS" "$P" txn --transactional-id airlock-txn --abort --send-offset txn-app:99 \
    <"$WORK/txn-aborted" || fail "aborted transaction"
kafka_py_produce "$NS_ANALYSIS" "$P" txn --transactional-id airlock-txn <"$WORK/txn-2" || fail "second transaction"
cat "$WORK/txn-1" "$WORK/txn-2" >"$WORK/txn-committed"
cat "$WORK/txn-1" "$WORK/txn-aborted" "$WORK/txn-2" >"$WORK/txn-all"
kafka_py_consume "$NS_ANALYSIS" "$C" txn 5 group-txn --isolation-level read_committed >"$WORK/got-txn" ||
    fail "read_committed consumer (kafka-python)"
diff "$WORK/txn-committed" "$WORK/got-txn" >&2 || fail "read_committed (kafka-python) read other values than the committed ones"
# Nothing beyond the 5 committed: asked for a sixth, it gives up with exactly those.
rc=0
kafka_py_consume "$NS_ANALYSIS" "$C" txn 6 group-txn-6 --isolation-level read_committed --timeout 8 >"$WORK/got-txn-6" || rc=$?
[ $rc = 1 ] || fail "a read_committed consumer read a sixth record: $(tail -1 "$WORK/got-txn-6")"
diff "$WORK/txn-committed" "$WORK/got-txn-6" >&2 || fail "read_committed (asked for 6) read other values"
# Control: the aborted records are in the log; read_uncommitted gets all 7, decrypted.
kafka_py_consume "$NS_ANALYSIS" "$C" txn 7 group-txn-all >"$WORK/got-txn-all" || fail "read_uncommitted consumer"
diff "$WORK/txn-all" "$WORK/got-txn-all" >&2 || fail "read_uncommitted read other values than the 7 sent"
consume_to "$WORK/got-txn-java" "$NS_ANALYSIS" "$C" txn 5 group-txn-java - --isolation-level read_committed ||
    fail "read_committed console consumer"
diff "$WORK/txn-committed" "$WORK/got-txn-java" >&2 || fail "read_committed (console consumer) read other values than the committed ones"
offset=$(kafka_py_committed "$NS_ANALYSIS" "$C" txn txn-app) || fail "the committed offset of group txn-app"
[ "$offset" = 3 ] || fail "group txn-app's offset is $offset, expected 3 (the first transaction's; the aborted one's 99 discarded)"
for needle in committed aborted; do
    rc=0
    kafka_log_grep "$KAFKA_DATA_DIR" "$needle" txn >/dev/null || rc=$?
    [ $rc = 1 ] || fail "the broker's files hold transactional records ($needle) in the clear (kafka_log_grep returned $rc)"
done
pass "transactions through the producer inlet: read_committed consumers (kafka-python, console) read exactly the 5 committed, decrypted; read_uncommitted also the 2 aborted; the group offset sent in a transaction counts only when committed; no plaintext at the broker"

meta="$(kafka_kcat "$NS_ANALYSIS" -b "$C" -L -m 10 2>&1)" || fail "kcat -L through the consumer inlet: $meta"
grep -q "broker 1 at 127.0.0.1:29093" <<<"$meta" || fail "kcat -L does not show broker 1 at the inlet's port: $meta"
if grep -q ":9092" <<<"$meta"; then fail "kcat -L shows the broker's own address: $meta"; fi
brokers="$(as consumer kafka-inlet show kafka-inlet-1 --output json | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["brokers"]))')"
[ "$brokers" = "1=127.0.0.1:29093" ] || fail "consumer inlet brokers: '$brokers'"
pass "kcat -L sees broker 1 at 127.0.0.1:29093 (the inlet's range, never :9092); the inlet lists $brokers"

log "an identity without kafka-inlet=true"
as intruder project enroll "$INTRUDER_TICKET" >/dev/null 2>&1 || fail "intruder enroll"
as intruder node create >/dev/null 2>&1 || fail "intruder node"
as intruder policy create --resource-type kafka-inlet --expression '(= subject.kafka-outlet "true")' >/dev/null
if out=$(as intruder kafka-inlet create --from 127.0.0.1:58092 2>&1); then
    fail "the intruder's kafka-inlet was created: $out"
fi
grep -q "refused" <<<"$out" || fail "the intruder's create failed for another reason: $out"
if testbed_tcp_connect "$NS_ANALYSIS" 127.0.0.1 58092 2 2>/dev/null; then fail "the refused inlet still listens"; fi
pass "the outlet refuses it: $(grep -m1 refused <<<"$out")"

log "a 3-broker cluster behind a second Kafka outlet"
kafka_start "$NS_BANK" 127.0.0.1 cluster --nodes 3 --port 9492 --controller-port 9592 --xmx 256m >/dev/null ||
    fail "kafka_start --nodes 3"
as operator kafka-outlet create --name kafka3 --bootstrap-server 127.0.0.1:9492 >/dev/null || fail "kafka-outlet kafka3"
as producer kafka-inlet create --name cluster --from 127.0.0.1:49092 --outlet kafka3 >/dev/null ||
    fail "kafka-inlet for the cluster"
K=127.0.0.1:49092
kafka_topic_create "$NS_ANALYSIS" "$K" replicated 3 --replication-factor 3 --config min.insync.replicas=2 ||
    fail "3-partition topic through the inlet"
kafka_produce "$NS_ANALYSIS" "$K" replicated - --producer-property acks=all <"$WORK/sent" || fail "produce to the cluster"
consume_to "$WORK/got-cluster" "$NS_ANALYSIS" "$K" replicated 8 group-c || fail "consume from the cluster"
sort "$WORK/got-cluster" | diff "$WORK/sent" - >&2 || fail "cluster: consumed lines differ"
meta="$(kafka_kcat "$NS_ANALYSIS" -b "$K" -L -t replicated -m 10 2>&1)" || fail "kcat -L on the cluster: $meta"
for port in 49093 49094 49095; do
    grep -q "at 127.0.0.1:$port" <<<"$meta" || fail "kcat -L does not show a broker at 127.0.0.1:$port: $meta"
done
leaders="$(grep -o 'leader [123]' <<<"$meta" | sort -u | wc -l)"
pass "3 brokers at 127.0.0.1:49093-49095 through one inlet; 8 messages over 3 partitions ($leaders distinct leaders) round trip"

log "a consumer that joins later reads the older records (docs/kafka-encryption.md §4.3)"
PRODUCER_LOG="$WORK/producer/nodes/default/node.log"
[ -f "$PRODUCER_LOG" ] || fail "no producer node log at $PRODUCER_LOG"
# `key_consumers`: the consumer count of the producer's newest data key for topic demo.
key_consumers() {
    grep "new data key for the topic" "$PRODUCER_LOG" | grep "topic=demo " | tail -1 |
        sed -n 's/.*consumers=\([0-9]*\).*/\1/p'
}
# The producer's node restarts first: the keys of the demo records come back from the key
# directory (its own grants), so it can still grant them to a consumer admitted after the restart.
as producer node stop default >/dev/null 2>&1 || fail "stop the producer node"
restored_before=$(grep -c "data keys made before this start are retained again" "$PRODUCER_LOG" || true)
as producer node start default >/dev/null 2>&1 || fail "start the producer node"
restored_more() { [ "$(grep -c "data keys made before this start are retained again" "$PRODUCER_LOG" || true)" -gt "$restored_before" ]; }
wait_until 40 restored_more || fail "the restarted producer did not get its data keys back within 40 s: $(tail -5 "$PRODUCER_LOG")"
pass "the producer's node restarted and retained its older data keys again: $(grep "data keys made before this start" "$PRODUCER_LOG" | tail -1 | grep -o 'keys=[0-9]*')"
LATE_TICKET=$(ticket --attribute kafka-inlet=true --attribute kafka-consumer=true)
as latecomer project enroll "$LATE_TICKET" >/dev/null 2>&1 || fail "latecomer enroll"
as latecomer node create --metrics 127.0.0.1:9465 >/dev/null 2>&1 || fail "latecomer node"
as latecomer policy create --resource-type kafka-inlet --expression '(= subject.kafka-outlet "true")' >/dev/null ||
    fail "latecomer kafka-inlet policy"
as latecomer policy create --resource-type kafka-producer --expression '(= subject.kafka-producer "true")' >/dev/null ||
    fail "latecomer kafka-producer policy"
regrants_before=$(grep -c "retained data keys granted" "$PRODUCER_LOG" || true)
as latecomer kafka-inlet create --from 127.0.0.1:59092 >/dev/null || fail "latecomer kafka-inlet create"
joined_at=$(date +%s)
# The demo keys were made before it published its consumer key: its first fetches fail
# (CORRUPT_MESSAGE, the console consumer exits) until the producer's next membership check (every
# 15 s) grants it the retained keys and its own cache of the refusal (10 s) runs out. Each attempt
# is a new consumer group, reading from offset 0.
attempt=0 late_ok=""
while [ $(($(date +%s) - joined_at)) -lt 45 ]; do
    attempt=$((attempt + 1))
    if KAFKA_CONSUME_TIMEOUT_MS=8000 consume_to "$WORK/got-late" "$NS_ANALYSIS" 127.0.0.1:59092 demo 8 "group-late-$attempt" 2>/dev/null; then
        late_ok=yes
        break
    fi
    sleep 2
done
late_after=$(($(date +%s) - joined_at))
[ -n "$late_ok" ] || fail "the consumer enrolled later did not read demo within 45 s ($attempt attempts): $(tail -5 "$KAFKA_TOOL_LOG")"
diff "$WORK/sent" "$WORK/got-late" >&2 || fail "the consumer enrolled later read other lines"
regrants_after=$(grep -c "retained data keys granted" "$PRODUCER_LOG" || true)
[ "$regrants_after" -gt "$regrants_before" ] || fail "the producer's log shows no re-grant"
metrics=$(ip netns exec "$NS_ANALYSIS" curl -sf http://127.0.0.1:9465/metrics) || fail "no /metrics on the latecomer"
decrypted=$(sed -n 's/^airlock_kafka_records_decrypted_total{topic="demo"} \([0-9]*\)$/\1/p' <<<"$metrics")
[ "${decrypted:-0}" -ge 8 ] || fail "the latecomer's /metrics counts ${decrypted:-no} decrypted demo records: $(grep airlock_kafka <<<"$metrics")"
refused=$(sed -n 's/^airlock_kafka_records_refused_total{topic="demo"} \([0-9]*\)$/\1/p' <<<"$metrics")
pass "a consumer node enrolled now read the 8 from offset 0 after ${late_after} s ($attempt attempt(s); producer re-granted its retained keys); its /metrics: decrypted $decrypted, refused ${refused:-0} on demo"

log "revocation: the latecomer's membership deleted, the producer's next key is made without it"
printf 'after join %s\n' 1 2 >"$WORK/sent-join"
kafka_produce "$NS_ANALYSIS" "$P" demo <"$WORK/sent-join" || fail "produce after the join"
with_late=$(key_consumers)
[ "$with_late" = 2 ] || fail "the producer's key after the join has ${with_late:-no} consumers, expected 2 (consumer, latecomer)"
LATE_ID=$(as latecomer identity show)
demo_changes() { grep "the topic's consumers changed" "$PRODUCER_LOG" | grep -c "topic=demo " || true; }
demo_changes_grew() { [ "$(demo_changes)" -gt "$changes_before" ]; }
changes_before=$(demo_changes)
as admin project member delete "$LATE_ID" >/dev/null 2>&1 || fail "member delete"
# The producer's membership check runs every 15 s.
wait_until 40 demo_changes_grew || fail "the producer did not notice the deleted consumer within 40 s"
grep "the topic's consumers changed" "$PRODUCER_LOG" | grep "topic=demo " | tail -1 | grep -q "left=1" ||
    fail "the producer's change line: $(grep "the topic's consumers changed" "$PRODUCER_LOG" | tail -1)"
printf 'after leave %s\n' 1 2 >"$WORK/sent-leave"
kafka_produce "$NS_ANALYSIS" "$P" demo <"$WORK/sent-leave" || fail "produce after the deletion"
without_late=$(key_consumers)
[ "$without_late" = 1 ] || fail "the producer's key after the deletion has ${without_late:-no} consumers, expected 1 (the consumer only)"
cat "$WORK/sent" "$WORK/sent-join" "$WORK/sent-leave" >"$WORK/sent-all"
consume_to "$WORK/got-all" "$NS_ANALYSIS" "$C" demo 12 group-after-leave || fail "the consumer reads after the deletion"
diff "$WORK/sent-all" "$WORK/got-all" >&2 || fail "the consumer read other lines after the deletion"
pass "after the deletion the producer's consumers changed (left=1) and its next key was granted to $without_late consumer (was $with_late); the remaining consumer reads all 12"

echo "kafka: all checks passed" >&2
