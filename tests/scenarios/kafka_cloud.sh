#!/usr/bin/env bash
# Scenario (seed 001): a cloud Kafka broker (SASL_SSL) behind the project's Kafka add-on, with
# end-to-end encrypted records.
#
#   kc_project  the project node, and the "cloud": Apache Kafka 4.1.1 (KRaft) on the project host's
#               own loopback with a SASL_SSL listener (SASL/PLAIN users alice and bob, a certificate
#               from a self-signed CA). `project addon configure kafka --bootstrap-server … --tls
#               --tls-ca-file CA` makes the project node's Kafka outlet `kafka`, which speaks TLS to
#               the broker
#   kc_analysis "Application team": a producer node and a consumer node made with the short forms
#               `kafka-producer create` / `kafka-consumer create --to /project/default`; the stock
#               console clients speak SASL_PLAINTEXT with PLAIN user alice to the inlets (SASL
#               passes through the inlet and the outlet; TLS is the outlet's)
#      └── only link ──▶ kc_project
#   (kc_bank is not used: the cloud broker is the project's to reach)
#
# Asserts: the application team cannot reach the broker directly; the project node's Kafka
# outlet speaks TLS; 8 messages go from the console producer to the console consumer and the
# broker's files hold none of them in the clear; a wrong password is refused by the broker (the
# console producer exits 0 all the same: the record is shown absent by consuming back); the
# add-on comes back when the project node restarts.
set -euo pipefail
export TESTBED_PREFIX="${TESTBED_PREFIX:-kc_}"
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/testbed/kafka.sh"
source "$ROOT/tests/lib/airlock.sh"
[ -x "$AIRLOCK" ] || fail "build first: cargo build --release"
[ "$(id -u)" = 0 ] || fail "the scenario needs root (network namespaces)"

WORK="$(mktemp -d /tmp/airlock-kafka-cloud.XXXXXX)"
on_exit "rm -rf '$WORK'"
on_exit "testbed_down"
on_exit "kafka_stop"

log "installing Kafka $KAFKA_VERSION (cached in $KAFKA_HOME)"
kafka_install >/dev/null || fail "kafka_install"

log "network namespaces"
testbed_up
testbed_assert_isolated >/dev/null 2>&1 || fail "namespaces are not isolated"
testbed_project_name project.airlock.test || fail "hosts files for the namespaces"
pass "the application team's network reaches only the project host"

# Each party's airlock state is $WORK/PARTY; `as PARTY cmd…` runs airlock in its namespace.
parties admin="$NS_PROJECT" producer="$NS_ANALYSIS" consumer="$NS_ANALYSIS"

# Ports apart from kafka.sh's.
KPORT=9392 SASL_PORT=9492 CPORT=9592
log "the cloud broker: KRaft, PLAINTEXT :$KPORT and SASL_SSL :$SASL_PORT on the project host's loopback"
kafka_start "$NS_PROJECT" 127.0.0.1 cloud --port $KPORT --sasl --sasl-port $SASL_PORT --controller-port $CPORT >/dev/null ||
    fail "kafka_start --sasl"
CLOUD=127.0.0.1:$SASL_PORT
if testbed_tcp_connect "$NS_ANALYSIS" "$PROJECT_IP_FOR_ANALYSIS" $SASL_PORT 2 2>/dev/null; then
    fail "the application team reached the broker directly"
fi
pass "SASL_SSL broker at $CLOUD inside $NS_PROJECT (CA $KAFKA_CA); unreachable from $NS_ANALYSIS"

log "administrator: project, the Kafka add-on (TLS to the cloud broker), tickets"
as admin project create --listen 0.0.0.0:4100 --public-address project.airlock.test:4100 >/dev/null 2>&1 ||
    fail "project create"
as admin project addon configure kafka --bootstrap-server "$CLOUD" --tls --tls-ca-file "$KAFKA_CA" >/dev/null ||
    fail "project addon configure kafka"
[ "$(json_field admin tls kafka-outlet show kafka --at project-default)" = True ] ||
    fail "the project node's Kafka outlet does not speak TLS"
PRODUCER_TICKET=$(ticket --attribute kafka-producer=true)
CONSUMER_TICKET=$(ticket --attribute kafka-consumer=true)
pass "the project node runs Kafka outlet kafka -> $CLOUD over TLS; two tickets issued"

log "application team: producer and consumer nodes, short forms"
for party in consumer producer; do
    t=$PRODUCER_TICKET
    [ $party = consumer ] && t=$CONSUMER_TICKET
    # The Kafka outlet's end is the project node itself (it holds no member credential): no
    # kafka-inlet policy, the default admits the home project's node (docs/protocol.md §9.7).
    kafka_member $party "$t" ""
done
# Consumers first: a producer grants keys to the consumers listed when it makes them.
as consumer kafka-consumer create --bootstrap-server 127.0.0.1:31092 --brokers-port-range 31093-31099 \
    --to /project/default --wait >/dev/null || fail "kafka-consumer create"
as producer kafka-producer create --bootstrap-server 127.0.0.1:21092 --brokers-port-range 21093-21099 \
    --to /project/default --wait >/dev/null || fail "kafka-producer create"
[ "$(json_field consumer encrypt kafka-inlet show kafka-consumer-1)" = True ] || fail "the consumer's inlet does not encrypt"
[ "$(json_field producer encrypt kafka-inlet show kafka-producer-1)" = True ] || fail "the producer's inlet does not encrypt"
pass "kafka-producer-1 at 127.0.0.1:21092 and kafka-consumer-1 at 127.0.0.1:31092, both to /project/default"

# SASL_PLAINTEXT to the inlets: SASL passes through, TLS is the outlet's.
sasl_props() { # FILE USER PASSWORD
    printf '%s\n' security.protocol=SASL_PLAINTEXT sasl.mechanism=PLAIN \
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"$2\" password=\"$3\";" >"$1"
}
sasl_props "$WORK/alice.properties" alice alice-secret
sasl_props "$WORK/wrong.properties" alice not-the-password

log "the seed's 8 messages, SASL_PLAINTEXT to the inlets, TLS to the broker, encrypted end to end"
P=127.0.0.1:21092
C=127.0.0.1:31092
kafka_topic_create "$NS_ANALYSIS" "$P" demo 1 --command-config "$WORK/alice.properties" \
    --config compression.type=uncompressed || fail "topic create through the producer's inlet"
printf 'message %s\n' 1 2 3 4 5 6 7 8 >"$WORK/sent"
kafka_produce "$NS_ANALYSIS" "$P" demo "$WORK/alice.properties" <"$WORK/sent" || fail "produce"
kafka_consume "$NS_ANALYSIS" "$C" demo 8 group-a "$WORK/alice.properties" >"$WORK/got" || fail "consume"
diff "$WORK/sent" "$WORK/got" >&2 || fail "consumed lines differ from the produced ones"
pass "8 messages from the console producer to the console consumer as alice (SASL/PLAIN), identical"

rc=0
kafka_log_grep "$KAFKA_DATA_DIR" "message " demo >/dev/null || rc=$?
[ $rc = 1 ] || fail "the broker's files hold plaintext of the demo topic (kafka_log_grep returned $rc)"
pass "the broker's files hold no plaintext of the 8"

log "a wrong password"
echo "wrong password marker" | kafka_produce "$NS_ANALYSIS" "$P" demo "$WORK/wrong.properties" || true
grep -qiE 'Authentication failed|SaslAuthenticationException' "$KAFKA_TOOL_LOG" ||
    fail "the console producer with a wrong password did not report an authentication failure"
# The console producer exits 0 when SASL login fails: consume back, expecting the 8 and nothing more.
rc=0
kafka_consume "$NS_ANALYSIS" "$C" demo 9 group-b "$WORK/alice.properties" >"$WORK/got-b" || rc=$?
[ $rc = 1 ] || fail "a ninth record came back (kafka_consume returned $rc)"
diff "$WORK/sent" "$WORK/got-b" >&2 || fail "group-b read other lines"
pass "the broker refused the wrong password (SASL passed through); only the 8 are in the topic"

log "the add-on comes back with the project node"
as admin node stop project-default >/dev/null 2>&1 || fail "stop the project node"
as admin node start project-default >/dev/null 2>&1 || fail "start the project node"
[ "$(json_field admin tls kafka-outlet show kafka --at project-default)" = True ] || fail "the add-on did not come back"
kafka_consume "$NS_ANALYSIS" "$C" demo 8 group-c "$WORK/alice.properties" >"$WORK/got-c" || fail "consume after restart"
diff "$WORK/sent" "$WORK/got-c" >&2 || fail "group-c read other lines"
pass "after the project node restarted, a new group reads the 8 through the add-on"

echo "kafka_cloud: all checks passed" >&2
