#!/usr/bin/env bash
# Demo (seed 001): end-to-end encrypted Kafka records through a cloud Kafka service.
#
# A cloud Kafka service (Confluent Cloud, say) is reachable only over TLS with a SASL login, and
# its operators can read whatever their brokers store. Here the project node reaches the service
# (`project addon configure kafka`): it runs the Kafka outlet, which speaks TLS to the brokers.
# The application team's producer and consumer nodes reach that outlet through the project
# (`kafka-producer create` / `kafka-consumer create --to /project/default`), and their stock
# Kafka clients log in as usual (SASL/PLAIN), in SASL_PLAINTEXT to their local inlet: the login
# passes through to the brokers, TLS is the outlet's. Every record value is encrypted at the
# producer's node and decrypted at the consumer's: the cloud stores ciphertext only.
#
#   cloud             Apache Kafka standing in for the cloud service: a SASL_SSL listener at
#                     10.231.1.2:9093 (SASL/PLAIN user alice, a certificate from a self-signed CA)
#   project host      the administrator's self-hosted project; its node runs the Kafka add-on
#   application team  nodes "consumer" (bootstrap 127.0.0.1:9092) and "producer" (127.0.0.1:19092),
#                     the stock Kafka console consumer and console producer
#
# Network namespaces stand in for the three hosts (tests/testbed/netns.sh): the cloud and the
# application team each reach only the project host, so the team cannot reach the cloud directly.
# Needs root, Java 17 and Internet access the first time (Kafka's jars come from Maven Central,
# then are cached).
#
#   bash examples/kafka/cloud/run.sh            # build, run the whole flow, leave it running
#   bash examples/kafka/cloud/run.sh cleanup    # stop and remove everything
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
# A prefix of its own, so the demo's namespaces (kcx_project, kcx_bank, kcx_analysis) never clash
# with those of the tests and the other demos.
export TESTBED_PREFIX="${TESTBED_PREFIX:-kcx_}"
WORK=/tmp/airlock-kafka-cloud-demo
# AIRLOCK_BIN: use that binary instead of building one (the test command sets it).
AIRLOCK="${AIRLOCK_BIN:-$ROOT/target/release/airlock}"
source "$ROOT/tests/testbed/kafka.sh"
NS_CLOUD=$NS_BANK   # the cloud service's network
NS_APP=$NS_ANALYSIS # the application team's network
CLOUD="$BANK_IP:9093"
TOPIC=demo
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() {
    printf '\n\033[31mThe example failed: %s\033[0m\n' "$*" >&2
    echo "Look around in $WORK, then clean up with: bash examples/kafka/cloud/run.sh cleanup" >&2
    exit 1
}

as() { # as PARTY airlock-args…   (runs inside the party's network namespace, with its own state)
    local party=$1 ns
    shift
    case $party in
    admin) ns=$NS_PROJECT ;;
    consumer | producer) ns=$NS_APP ;;
    esac
    ip netns exec "$ns" env AIRLOCK_HOME="$WORK/$party" "$AIRLOCK" "$@"
}
field() { # field NAME   (a field of the JSON object on stdin)
    python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

cleanup() {
    for p in admin consumer producer; do
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

say "Three hosts: the cloud, the project, the application team (the cloud and the team reach only the project)"
testbed_up
testbed_project_name project.example

say "The cloud: Apache Kafka with a SASL_SSL listener at $CLOUD"
# The test bed's broker also has the cluster's own PLAINTEXT and controller listeners (9092,
# 9094); clients of the cloud use only SASL_SSL. The CA signed the broker's certificate.
kafka_start "$NS_CLOUD" "$BANK_IP" cloud --port 9092 --sasl --sasl-port 9093 --controller-port 9094 \
    --user alice:alice-secret --dir "$WORK/kafka" >/dev/null || die "the broker did not start"
if testbed_tcp_connect "$NS_APP" "$BANK_IP" 9093 2 2>/dev/null; then die "the application team reached the cloud directly"; fi
echo "The broker runs (pid $KAFKA_PID; CA certificate $KAFKA_CA); the application team cannot reach it directly."

say "Administrator: a self-hosted project, and its Kafka add-on: the project node's Kafka outlet speaks TLS to the cloud"
as admin project create --listen 0.0.0.0:4000 --public-address project.example:4000
# --tls-ca-file: trust this CA only (a real cloud service's certificate chains to a public CA:
# --tls alone trusts the usual roots).
as admin project addon configure kafka --bootstrap-server "$CLOUD" --tls --tls-ca-file "$KAFKA_CA"
[ "$(as admin kafka-outlet show kafka --at project-default --output json | field tls)" = True ] ||
    die "the project node's Kafka outlet does not speak TLS"
say "Administrator: two one-time enrollment tickets (valid 10 minutes)"
# The attributes go into each member's credential; the policies below check them.
consumer_ticket=$(as admin project ticket --usage-count 1 --expires-in 10m --attribute kafka-consumer=true)
producer_ticket=$(as admin project ticket --usage-count 1 --expires-in 10m --attribute kafka-producer=true)

member() { # member PARTY TICKET: enroll, make the node, set its policies
    as "$1" project enroll "$2"
    as "$1" node create
    # (No kafka-inlet policy: by default an inlet accepts the project node, which runs the
    # Kafka add-on's outlet, and members with a valid credential.)
    # Who may read the records this node produces: members with kafka-consumer=true.
    as "$1" policy create --resource-type kafka-consumer --expression '(= subject.kafka-consumer "true")'
    # Whose records this node opens: members with kafka-producer=true.
    as "$1" policy create --resource-type kafka-producer --expression '(= subject.kafka-producer "true")'
}

# The consumer's node comes first: when the producer's node makes a data key, it seals it for
# the consumers that exist at that moment (and makes a new key when more arrive).
say "Application team: the consumer's node, its Kafka inlet at 127.0.0.1:9092 (to the project's Kafka outlet)"
member consumer "$consumer_ticket"
as consumer kafka-consumer create --bootstrap-server 127.0.0.1:9092 --to /project/default --wait

say "Application team: the producer's node, its Kafka inlet at 127.0.0.1:19092"
member producer "$producer_ticket"
as producer kafka-producer create --bootstrap-server 127.0.0.1:19092 --to /project/default --wait

# The clients' own login, as for the cloud service, but SASL_PLAINTEXT to the local inlet: the
# inlet passes SASL on, and the project node's outlet wraps the connection in TLS.
cat >"$WORK/client.properties" <<'EOF'
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="alice-secret";
EOF
echo "The Kafka clients' properties ($WORK/client.properties):"
sed 's/^/    /' "$WORK/client.properties"

say "A topic \"$TOPIC\", created through the producer's inlet"
# Uncompressed, so that the check of the broker's files below could see plaintext if there were any.
kafka_topic_create "$NS_APP" 127.0.0.1:19092 "$TOPIC" 1 --command-config "$WORK/client.properties" \
    --config compression.type=uncompressed || die "creating the topic through the producer's inlet failed"

say "The console consumer (bootstrap 127.0.0.1:9092) waits while the console producer (127.0.0.1:19092) sends 8 messages"
for i in 1 2 3 4 5 6 7 8; do echo "Message $i of 8: confidential order #200$i"; done >"$WORK/sent"
# The consumer runs in the background and prints what it receives as it comes. (Its Kafka tool
# log goes to a folder of its own, not the one the producer's run overwrites.)
(
    _KAFKA_TOOL_DIR="$WORK/consumer-tool" && mkdir -p "$_KAFKA_TOOL_DIR"
    kafka_consume "$NS_APP" 127.0.0.1:9092 "$TOPIC" 8 demo-readers "$WORK/client.properties" |
        tee "$WORK/received" | sed -u 's/^/    consumer received: /'
) &
consumer_pid=$!
# The seed spaces its messages apart; half a second keeps the run short.
while read -r line; do
    echo "    producer sends:    $line" >&2
    echo "$line"
    sleep 0.5
done <"$WORK/sent" | kafka_produce "$NS_APP" 127.0.0.1:19092 "$TOPIC" "$WORK/client.properties" ||
    die "the console producer failed"
wait "$consumer_pid" || die "the console consumer did not receive the 8 messages"

say "What the consumer received is what the producer sent"
diff "$WORK/sent" "$WORK/received" >&2 || die "the consumer received other messages than those sent (diff above)"
echo "All 8 messages arrived, identical."

say "What the cloud stored: ciphertext only"
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
echo "None of the 8 messages is in the broker's files, not even the words \"confidential order\"."
# What the cloud's operators see when they read the topic (their console, or kcat as here, over
# SASL_SSL inside the cloud's network): each value is the message's bytes plus 33 (a version
# byte, the data key's id, a counter and the AES-GCM tag).
echo "The cloud's operator reads the topic with kcat over SASL_SSL, without Airlock:"
secret_hex="$(printf confidential | od -An -v -tx1 | tr -d ' \n')"
for offset in 0 1 2 3 4 5 6 7; do
    value="$(kafka_kcat "$NS_CLOUD" -F "$KAFKA_KCAT_PROPS" -b "$CLOUD" -C -t "$TOPIC" -p 0 -o $offset -c 1 -e -q -f '%s' 2>>"$WORK/kcat.log" |
        od -An -v -tx1 | tr -d ' \n')" || die "kcat at the cloud failed"
    [ -n "$value" ] || die "kcat at the cloud read nothing at offset $offset"
    case $value in *"$secret_hex"*) die "offset $offset holds \"confidential\" in the clear" ;; esac
    echo "    offset $offset: $((${#value} / 2)) bytes: ${value:0:48}…"
done
cat <<EOF
The values were encrypted by the producer's node before they left the application team's
network, and only nodes whose credential says kafka-consumer=true got the keys to open them.
The cloud service, its operators and the project host only ever see ciphertext.
EOF

echo
echo "The run took $((SECONDS - started)) s. Everything is still running; for instance, read the topic again:"
echo "  ip netns exec $NS_APP kcat -b 127.0.0.1:9092 -X security.protocol=SASL_PLAINTEXT -X sasl.mechanisms=PLAIN \\"
echo "      -X sasl.username=alice -X sasl.password=alice-secret -C -t $TOPIC -o beginning -e"
echo "Clean up with: bash examples/kafka/cloud/run.sh cleanup"
echo "The example run was successful"
