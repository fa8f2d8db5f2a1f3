#!/usr/bin/env bash
# Demo (seed 000): Apache Kafka with end-to-end encrypted records.
#
# The Kafka operator runs a broker in a network that nobody else can reach. The application team
# runs a Kafka consumer and a Kafka producer in another network. The two networks cannot reach
# each other; both reach only the project host, where the administrator runs an Airlock project.
# Airlock Kafka portals connect the team's clients to the broker, and every record value is
# encrypted at the producer's node and decrypted at the consumer's: the broker stores ciphertext.
#
#   project host      the administrator's self-hosted project: authority, relays, key directory
#   Kafka operator    Apache Kafka on 127.0.0.1:9092, node "kafka_operator" (kafka_operator.yaml)
#   application team  nodes "kafka_consumer" (consumer.yaml) and "kafka_producer" (producer.yaml),
#                     the stock Kafka console consumer and console producer
#
# Network namespaces stand in for the three hosts (tests/testbed/netns.sh); needs root, Java 17
# and Internet access the first time (Kafka's jars come from Maven Central, then are cached).
#
#   bash examples/kafka/apache/run.sh            # build, run the whole flow, leave it running
#   bash examples/kafka/apache/run.sh cleanup    # stop and remove everything
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
# A prefix of its own, so the demo's namespaces (kx_project, kx_bank, kx_analysis) never clash
# with those of the tests.
export TESTBED_PREFIX="${TESTBED_PREFIX:-kx_}"
WORK=/tmp/airlock-kafka-demo
# AIRLOCK_BIN: use that binary instead of building one (the test command sets it).
AIRLOCK="${AIRLOCK_BIN:-$ROOT/target/release/airlock}"
source "$ROOT/tests/testbed/kafka.sh"
NS_OPERATOR=$NS_BANK # the Kafka operator's network
NS_APP=$NS_ANALYSIS  # the application team's network
TOPIC=demo
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() {
    printf '\n\033[31mThe example failed: %s\033[0m\n' "$*" >&2
    echo "Look around in $WORK, then clean up with: bash examples/kafka/apache/run.sh cleanup" >&2
    exit 1
}

as() { # as PARTY airlock-args…   (runs inside the party's network namespace, with its own state)
    local party=$1 ns
    shift
    case $party in
    admin) ns=$NS_PROJECT ;;
    operator) ns=$NS_OPERATOR ;;
    consumer | producer) ns=$NS_APP ;;
    esac
    ip netns exec "$ns" env AIRLOCK_HOME="$WORK/$party" "$AIRLOCK" "$@"
}

# Waits until the party's Kafka inlet (named "kafka", the name of a file's single `kafka-inlet:`)
# reports that it is up.
inlet_up() {
    local party=$1 status=""
    for _ in $(seq 1 60); do
        status="$(as "$party" kafka-inlet show kafka --output json 2>/dev/null |
            python3 -c 'import json, sys; print(json.load(sys.stdin).get("status", ""))' 2>/dev/null)" || true
        [ "$status" = up ] && return 0
        sleep 0.5
    done
    die "the $party's Kafka inlet is not up after 30 s (status: ${status:-unknown})"
}

cleanup() {
    for p in admin operator consumer producer; do
        [ -d "$WORK/$p" ] && [ -x "$AIRLOCK" ] && AIRLOCK_HOME="$WORK/$p" "$AIRLOCK" node delete --all --yes >/dev/null 2>&1 || true
    done
    # The broker (kafka_stop checks that the pid is a broker the test bed started).
    [ -f "$WORK/kafka/node1/kafka.pid" ] && kafka_stop "$(cat "$WORK/kafka/node1/kafka.pid")" >/dev/null 2>&1 || true
    # Whatever is still running inside the namespaces, then the namespaces themselves.
    testbed_down >/dev/null 2>&1 || true
    rm -rf "$WORK"
}

[ "$(id -u)" = 0 ] || { echo "This demo creates network namespaces: run it as root."; exit 1; }
if [ "${1:-}" = cleanup ]; then cleanup; echo "Cleaned up."; exit 0; fi
cleanup
# From here on, any command that fails stops the run with a message.
trap 'die "a command failed at line $LINENO of run.sh (see above)"' ERR
started=$SECONDS

say "Building airlock and installing Apache Kafka $KAFKA_VERSION (both cached)"
[ -n "${AIRLOCK_BIN:-}" ] || (cd "$ROOT" && cargo build --release -q -p airlock-cli)
[ -x "$AIRLOCK" ] || die "no airlock binary at $AIRLOCK"
kafka_install >/dev/null || die "installing Kafka failed (see above)"
mkdir -p "$WORK"
# The Kafka tools' logs go under $WORK too (else the test bed makes a folder in /tmp for them).
_KAFKA_TOOL_DIR="$WORK/kafka-tools" && mkdir -p "$_KAFKA_TOOL_DIR"

say "Three hosts: the project, the Kafka operator, the application team (the last two reach only the project)"
testbed_up
testbed_project_name project.example

say "Kafka operator: Apache Kafka on its own loopback, 127.0.0.1:9092"
kafka_start "$NS_OPERATOR" 127.0.0.1 demo --port 9092 --dir "$WORK/kafka" >/dev/null || die "the broker did not start"
# The broker's own network is closed: the application team cannot connect to it directly.
if testbed_tcp_connect "$NS_APP" "$BANK_IP" 9092 2 2>/dev/null; then die "the application team reached the broker directly"; fi
echo "The broker runs (pid $KAFKA_PID); the application team cannot reach it directly."

say "Administrator: a self-hosted project and three one-time enrollment tickets (valid 10 minutes)"
as admin project create --listen 0.0.0.0:4000 --public-address project.example:4000
# The attributes go into each member's credential; the policies in the node files check them.
operator_ticket=$(as admin project ticket --usage-count 1 --expires-in 10m --attribute kafka-outlet=true --relay kafka)
consumer_ticket=$(as admin project ticket --usage-count 1 --expires-in 10m --attribute kafka-inlet=true --attribute kafka-consumer=true)
producer_ticket=$(as admin project ticket --usage-count 1 --expires-in 10m --attribute kafka-inlet=true --attribute kafka-producer=true)

say "Kafka operator: a node from kafka_operator.yaml (relay \"kafka\", policy, Kafka outlet)"
sed 's/^/    /' "$HERE/kafka_operator.yaml"
ENROLLMENT_TICKET="$operator_ticket" as operator node create "$HERE/kafka_operator.yaml"

# The consumer's node comes first: when the producer's node makes a data key, it seals it for
# the consumers that exist at that moment (and makes a new key when more arrive).
say "Application team: the consumer's node from consumer.yaml (Kafka inlet at 127.0.0.1:9092)"
sed 's/^/    /' "$HERE/consumer.yaml"
ENROLLMENT_TICKET="$consumer_ticket" as consumer node create "$HERE/consumer.yaml"
inlet_up consumer

say "Application team: the producer's node from producer.yaml (Kafka inlet at 127.0.0.1:19092)"
echo "    (the same as consumer.yaml, with name: kafka_producer and from: 127.0.0.1:19092)"
ENROLLMENT_TICKET="$producer_ticket" as producer node create "$HERE/producer.yaml"
inlet_up producer

say "A topic \"$TOPIC\", created through the producer's inlet"
# Uncompressed, so that the check of the broker's files below could see plaintext if there were any.
kafka_topic_create "$NS_APP" 127.0.0.1:19092 "$TOPIC" 1 --config compression.type=uncompressed ||
    die "creating the topic through the producer's inlet failed"

say "The console consumer (bootstrap 127.0.0.1:9092) waits while the console producer (127.0.0.1:19092) sends 5 messages"
for i in 1 2 3 4 5; do echo "Message $i of 5: confidential order #100$i"; done >"$WORK/sent"
# The consumer runs in the background and prints what it receives as it comes. (Its Kafka tool
# log goes to a folder of its own, not the one the producer's run overwrites.)
(
    _KAFKA_TOOL_DIR="$WORK/consumer-tool" && mkdir -p "$_KAFKA_TOOL_DIR"
    kafka_consume "$NS_APP" 127.0.0.1:9092 "$TOPIC" 5 demo-readers | tee "$WORK/received" |
        sed -u 's/^/    consumer received: /'
) &
consumer_pid=$!
# The seed spaces its messages 5 s apart; 1 s keeps the run short.
while read -r line; do
    echo "    producer sends:    $line" >&2
    echo "$line"
    sleep 1
done <"$WORK/sent" | kafka_produce "$NS_APP" 127.0.0.1:19092 "$TOPIC" || die "the console producer failed"
wait "$consumer_pid" || die "the console consumer did not receive the 5 messages"

say "What the consumer received is what the producer sent"
diff "$WORK/sent" "$WORK/received" >&2 || die "the consumer received other messages than those sent (diff above)"
echo "All 5 messages arrived, identical."

say "What the broker stored: ciphertext only"
# kafka_log_grep returns 0 if a string is in the topic's data files, 1 if not, 2 if there are none.
for f in "$KAFKA_DATA_DIR/$TOPIC"-0/*.log; do echo "    $f: $(stat -c %s "$f") bytes"; done
rc=0
kafka_log_grep "$KAFKA_DATA_DIR" "confidential order" "$TOPIC" >&2 || rc=$?
[ $rc = 1 ] || die "the broker's files hold the messages in the clear (or no data file: kafka_log_grep returned $rc)"
while read -r line; do
    rc=0
    kafka_log_grep "$KAFKA_DATA_DIR" "$line" "$TOPIC" >/dev/null || rc=$?
    [ $rc = 1 ] || die "the broker's files hold \"$line\" in the clear"
done <"$WORK/sent"
echo "None of the 5 messages is in the broker's files, not even the words \"confidential order\"."
# What the operator sees when reading the topic at its own broker, without Airlock: each value is
# the message's 40 bytes plus 33 (a version byte, the data key's id, a counter and the AES-GCM tag).
echo "The Kafka operator reads the topic at its own broker with kcat (no Airlock involved):"
for offset in 0 1 2 3 4; do
    value="$(kafka_kcat "$NS_OPERATOR" -b 127.0.0.1:9092 -C -t "$TOPIC" -p 0 -o $offset -c 1 -e -q -f '%s' | od -An -v -tx1 | tr -d ' \n')" ||
        die "kcat at the broker failed"
    echo "    offset $offset: $((${#value} / 2)) bytes: ${value:0:48}…"
done
cat <<EOF
The values were encrypted by the producer's node before they left the application team's
network, and only nodes whose credential says kafka-consumer=true got the keys to open them.
The Kafka operator, its node and the project host only ever see ciphertext.
EOF

echo
echo "The run took $((SECONDS - started)) s. Everything is still running; for instance, read the topic again:"
echo "  ip netns exec $NS_APP kcat -b 127.0.0.1:9092 -C -t $TOPIC -o beginning -e"
echo "Clean up with: bash examples/kafka/apache/run.sh cleanup"
echo "The example run was successful 🥳"
