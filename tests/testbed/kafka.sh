# Apache Kafka 4.1.1 (KRaft) for the Airlock test bed, from Maven Central jars. Sourced, not executed.
#
#   kafka_install
#       Java 17 and Maven (apt-get if missing), kcat (apt-get if missing), and the broker's and tools'
#       jars in $KAFKA_LIB (cached; `.complete` holds the hash of kafka/pom.xml). Sets
#       KAFKA_INSTALL_CACHED (1 = nothing to do). Maven's output: $KAFKA_HOME/mvn.log.
#   kafka_start NETNS HOST NAME [OPTIONS]
#       A fresh cluster of N combined broker+controller nodes (default 1; static quorum,
#       `controller.quorum.voters`), listening on HOST inside NETNS; NETNS "" means the host's own
#       loopback (HOST must then be 127.x). Waits (bounded, $KAFKA_START_TIMEOUT s) until every
#       node's log says "Kafka Server started": the wait reads logs, it never connects.
#       Node i (1..N) listens on PORT+i-1 (PLAINTEXT), SASL_PORT+i-1 (SASL_SSL, with --sasl) and
#       CONTROLLER_PORT+i-1. Must not run inside $(...) (the JVMs must stay children of this shell).
#       Options:
#         --nodes N              cluster size (default 1; 3 for the replication cases)
#         --port P               first PLAINTEXT port (default 9092)
#         --sasl                 add a SASL_SSL listener: SASL/PLAIN users, certificate from a CA made
#                                with openssl (SAN: HOST, localhost, 127.0.0.1)
#         --sasl-port P          first SASL_SSL port (default 9192)
#         --controller-port P    first CONTROLLER port (default 9292)
#         --user NAME:PASSWORD   a SASL/PLAIN user (repeatable; default alice:alice-secret and
#                                bob:bob-secret); the first one is written to the client files below
#         --dir DIR              the instance folder (kept by kafka_stop); default: a new
#                                /tmp/airlock-kafka-NAME.XXXXXX, removed by kafka_stop unless KEEP_WORK is set
#         --xmx SIZE             heap per node (default $KAFKA_XMX, 384m)
#         --prop KEY=VALUE       an extra server property for every node (repeatable; wins over ours)
#       Sets, once every node is ready (a failed start leaves them alone; node 1 first in each list):
#         KAFKA_DIR              the instance folder
#         KAFKA_PID              node 1's JVM;  KAFKA_NODE_PIDS (array) every node's JVM
#         KAFKA_DATA_DIR         node 1's log.dirs;  KAFKA_DATA_DIRS (array)
#         KAFKA_LOG              node 1's log file;  KAFKA_LOGS (array)
#         KAFKA_BOOTSTRAP        HOST:PORT of every node, comma-separated (PLAINTEXT)
#         KAFKA_BOOTSTRAP_SASL   the same for SASL_SSL (empty without --sasl)
#         KAFKA_CA               the CA certificate clients trust (PEM; empty without --sasl)
#         KAFKA_SASL_USER, KAFKA_SASL_PASSWORD   the first user
#         KAFKA_CLIENT_PROPS     Java client properties (console tools) for SASL_SSL as that user
#         KAFKA_KCAT_PROPS       the same for kcat / librdkafka (`kcat -F FILE`)
#         KAFKA_CLUSTER_ID       the cluster id the nodes were formatted with
#       Also appends the JVMs to KAFKA_PIDS (everything this shell started).
#   kafka_stop [PID...]
#       Stops PIDs, or every node this shell started: checks /proc/PID/cmdline is a broker of ours,
#       SIGTERM, waits up to $KAFKA_STOP_TIMEOUT s (default 30), then SIGKILL. Without arguments it
#       also removes the instance folders kafka_start created itself (unless KEEP_WORK is set).
#   kafka_client_props FILE USER PASSWORD [java|kcat]
#       Writes client properties for the SASL_SSL listener of the last kafka_start (its CA).
#   kafka_topic_create NETNS BOOTSTRAP TOPIC [PARTITIONS] [--replication-factor N]
#                      [--command-config FILE] [--config KEY=VALUE]...
#       TopicCommand --create (default 1 partition, replication factor 1).
#   kafka_produce NETNS BOOTSTRAP TOPIC [CLIENT_PROPS|-] [TOOL ARGS...]
#       Console producer: one record per line of stdin. Its exit code is NOT proof of delivery (it
#       exits 0 when SASL login fails): consume back.
#   kafka_consume NETNS BOOTSTRAP TOPIC N [GROUP|-] [CLIENT_PROPS|-] [TOOL ARGS...]
#       Console consumer from the beginning: prints up to N values on stdout, one per line; gives up
#       after $KAFKA_CONSUME_TIMEOUT_MS of silence (default 20000). Returns 1 when fewer than N came.
#   kafka_log_grep DATADIR STRING [TOPIC]
#       Counts STRING (fixed, binary-safe) in the topic data files (<DATADIR>/<topic>-<n>/*.log; not
#       the cluster metadata log) and prints "FILE: COUNT" for each file holding it. Returns 0 if found,
#       1 if not, 2 if there is no data file at all (a negative check must not pass by accident).
#       Pitfall: a record batch compressed by the client hides its plaintext from grep; create the
#       topics of a "broker holds only ciphertext" check with --config compression.type=uncompressed.
#   kafka_kcat NETNS ARGS...
#       kcat (Debian package; librdkafka) inside NETNS, bounded by $KAFKA_TOOL_TIMEOUT s.
#   kafka_python_install
#       kafka-python $KAFKA_PYTHON_VERSION (a pure-Python client, no dependencies) from PyPI with pip,
#       into $KAFKA_PYTHON_DIR (cached by version; `.complete` marks a finished install).
#   kafka_py_produce NETNS BOOTSTRAP TOPIC [--transactional-id ID [--abort] [--send-offset GROUP:OFFSET]]
#       kafka-python producer (kafka/kafka_client.py): one record per line of stdin, each send
#       awaited; with --transactional-id all lines in one transaction, committed (or aborted),
#       with --send-offset also GROUP's offset OFFSET for partition 0 (send_offsets_to_transaction).
#   kafka_py_consume NETNS BOOTSTRAP TOPIC N GROUP [--isolation-level read_committed] [--timeout S]
#       kafka-python consumer from the earliest offset: prints up to N values on stdout; returns 1
#       when fewer than N came within S seconds (default 20), 2 on an error.
#   kafka_py_committed NETNS BOOTSTRAP TOPIC GROUP
#       Prints GROUP's committed offset for partition 0 of TOPIC ("none" if it has none).
#
# Every tool runs inside the namespace given (`ip netns exec`, "" = host loopback) under `timeout`
# ($KAFKA_TOOL_TIMEOUT s, default 90); its stderr goes to $KAFKA_TOOL_LOG (overwritten by each call,
# printed when the tool fails). Each tool call is a JVM start: 2-5 s on 2 cores.
#
# Cache: $AIRLOCK_CACHE/kafka-4.1.1/{lib,m2,mvn.log}: the jars (93 + the SLF4J binding, ~55 MB) and
# Maven's local repository for this version (~75 MB), so a fresh clone on the same machine reuses them.

# shellcheck shell=bash
# The KAFKA_* variables are for the caller:
# shellcheck disable=SC2034
[ -n "${_TESTBED_KAFKA_LOADED:-}" ] && return 0
_TESTBED_KAFKA_LOADED=1
# shellcheck source=netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

KAFKA_VERSION=4.1.1
KAFKA_SRC="$TESTBED_DIR/kafka"
KAFKA_HOME="$AIRLOCK_CACHE/kafka-$KAFKA_VERSION"
KAFKA_LIB="$KAFKA_HOME/lib"
KAFKA_XMX="${KAFKA_XMX:-384m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
KAFKA_TOOL_TIMEOUT="${KAFKA_TOOL_TIMEOUT:-90}"
KAFKA_CONSUME_TIMEOUT_MS="${KAFKA_CONSUME_TIMEOUT_MS:-20000}"
KAFKA_PYTHON_VERSION=3.0.12
KAFKA_PYTHON_DIR="$AIRLOCK_CACHE/pip-kafka-python-$KAFKA_PYTHON_VERSION"
KAFKA_MAVEN_DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
KAFKA_PIDS=()
_KAFKA_OWN_DIRS=()
_KAFKA_TOOL_DIR=""
KAFKA_TOOL_LOG=""

# ---------------------------------------------------------------------------------------------
# install

_kafka_apt_install() { # PACKAGE... (one `apt-get update` and a retry if the first attempt fails)
    command -v apt-get >/dev/null || { tb_err "apt-get is missing: install $* by hand"; return 1; }
    tb_log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 && return 0
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null || { tb_err "apt-get install $* failed"; return 1; }
}

_kafka_pom_hash() { sha256sum <"$KAFKA_SRC/pom.xml" | cut -c1-16; }

kafka_install() {
    local want start
    local java_major
    command -v java >/dev/null || _kafka_apt_install openjdk-17-jre-headless || return 1
    java_major="$(java -version 2>&1 | sed -n '1s/.* version "\(1\.\)\{0,1\}\([0-9]*\).*/\2/p')"
    if [ -z "$java_major" ] || [ "$java_major" -lt 17 ]; then
        tb_err "Kafka $KAFKA_VERSION needs Java 17 or newer; found: $(java -version 2>&1 | head -1)"
        return 1
    fi
    command -v kcat >/dev/null || _kafka_apt_install kcat || return 1
    command -v openssl >/dev/null || _kafka_apt_install openssl || return 1
    want="$(_kafka_pom_hash)"
    if [ "$(cat "$KAFKA_LIB/.complete" 2>/dev/null)" = "$want" ]; then
        KAFKA_INSTALL_CACHED=1
        return 0
    fi
    KAFKA_INSTALL_CACHED=0
    command -v mvn >/dev/null || _kafka_apt_install maven || return 1
    mkdir -p "$KAFKA_HOME" || return 1
    tb_log "resolving Apache Kafka $KAFKA_VERSION from Maven Central into $KAFKA_LIB (log: $KAFKA_HOME/mvn.log)"
    start=$SECONDS
    (
        # One resolver at a time; a second one waits and then finds the jars.
        exec 9>"$KAFKA_HOME/.lock"
        flock 9
        [ "$(cat "$KAFKA_LIB/.complete" 2>/dev/null)" = "$want" ] && exit 0
        # Maven runs on a copy of the pom, so it never writes into the work tree.
        rm -rf "$KAFKA_HOME/project" "$KAFKA_LIB.tmp" && mkdir -p "$KAFKA_HOME/project" &&
            cp "$KAFKA_SRC/pom.xml" "$KAFKA_HOME/project/pom.xml" || exit 1
        mvn_run() {
            mvn -B -q -f "$KAFKA_HOME/project/pom.xml" -Dmaven.repo.local="$KAFKA_HOME/m2" "$@" >>"$KAFKA_HOME/mvn.log" 2>&1
        }
        : >"$KAFKA_HOME/mvn.log"
        mvn_run "$KAFKA_MAVEN_DEPENDENCY_PLUGIN:copy-dependencies" -DincludeScope=runtime \
            -DoutputDirectory="$KAFKA_LIB.tmp" || exit 1
        # The Kafka poms bring slf4j-api 1.7 and log4j2 but no binding between them: without one
        # the broker logs nothing at all. Add log4j-slf4j-impl at the resolved log4j-api version.
        local api log4j
        api="$(cd "$KAFKA_LIB.tmp" && ls log4j-api-*.jar 2>/dev/null | head -1)"
        log4j="${api#log4j-api-}" log4j="${log4j%.jar}"
        [ -n "$log4j" ] || { echo "kafka_install: no log4j-api jar was resolved" >>"$KAFKA_HOME/mvn.log"; exit 1; }
        mvn_run "$KAFKA_MAVEN_DEPENDENCY_PLUGIN:copy" \
            -Dartifact="org.apache.logging.log4j:log4j-slf4j-impl:$log4j" -DoutputDirectory="$KAFKA_LIB.tmp" || exit 1
        [ -f "$KAFKA_LIB.tmp/log4j-core-$log4j.jar" ] ||
            mvn_run "$KAFKA_MAVEN_DEPENDENCY_PLUGIN:copy" \
                -Dartifact="org.apache.logging.log4j:log4j-core:$log4j" -DoutputDirectory="$KAFKA_LIB.tmp" || exit 1
        [ -f "$KAFKA_LIB.tmp/kafka_2.13-$KAFKA_VERSION.jar" ] && [ -f "$KAFKA_LIB.tmp/kafka-tools-$KAFKA_VERSION.jar" ] || {
            echo "kafka_install: kafka jars missing after resolution" >>"$KAFKA_HOME/mvn.log"; exit 1; }
        rm -rf "$KAFKA_LIB" && mv "$KAFKA_LIB.tmp" "$KAFKA_LIB" && echo "$want" >"$KAFKA_LIB/.complete"
    ) || {
        tb_err "resolving Kafka $KAFKA_VERSION failed; last lines of $KAFKA_HOME/mvn.log:"
        sed 's/\x1b\[[0-9;]*m//g' "$KAFKA_HOME/mvn.log" | grep -v '^\s*$' | tail -n 30 >&2
        return 1
    }
    tb_log "Kafka $KAFKA_VERSION resolved in $((SECONDS - start)) s ($(find "$KAFKA_LIB" -name '*.jar' | wc -l) jars)"
}

# ---------------------------------------------------------------------------------------------
# running tools

# Prefix that runs a command inside namespace $1, or on the host when $1 is empty (loopback only).
_kafka_in() { if [ -n "$1" ]; then _KAFKA_IN=(ip netns exec "$1"); else _KAFKA_IN=(); fi; }

_kafka_tool_log() {
    if [ -z "$_KAFKA_TOOL_DIR" ] || [ ! -d "$_KAFKA_TOOL_DIR" ]; then
        _KAFKA_TOOL_DIR="$(mktemp -d /tmp/airlock-kafka-tools.XXXXXX)" || return 1
    fi
    KAFKA_TOOL_LOG="$_KAFKA_TOOL_DIR/last.log"
    : >"$KAFKA_TOOL_LOG"
}

# _kafka_tool NETNS CLASS ARGS...: a Kafka command-line tool inside NETNS (stdin passed on; stderr
# to $KAFKA_TOOL_LOG). Short-lived JVMs start faster with the client compiler and the serial GC.
_kafka_tool() {
    local ns=$1 class=$2
    shift 2
    [ -f "$KAFKA_LIB/.complete" ] || { tb_err "Kafka is not installed (call kafka_install)"; return 1; }
    _kafka_tool_log || return 1
    _kafka_in "$ns"
    timeout -k 5 "$KAFKA_TOOL_TIMEOUT" "${_KAFKA_IN[@]}" java -Xms64m -Xmx256m -XX:+UseSerialGC \
        -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$KAFKA_SRC/log4j2-tools.properties" \
        -cp "$KAFKA_LIB/*" "$class" "$@" 2>"$KAFKA_TOOL_LOG"
}

_kafka_tool_failed() { # WHAT RC
    tb_err "$1 failed (exit $2$([ "$2" = 124 ] && echo ", timed out after $KAFKA_TOOL_TIMEOUT s")); its stderr:"
    _kafka_log_tail "$KAFKA_TOOL_LOG" 15
}

# The last N lines of a Java log without stack frames, each message once (clients repeat their
# connection warnings every second).
_kafka_log_tail() { # FILE N
    grep -v -e '^\s*at ' -e '^\s*\.\.\. [0-9]* more' "$1" | awk '{ k = $0; sub(/^\[[^]]*\] /, "", k) } !seen[k]++' | tail -n "$2" >&2
}

# ---------------------------------------------------------------------------------------------
# broker

_kafka_certs() { # DIR HOST
    local d=$1 host=$2 san
    mkdir -p "$d" || return 1
    san="DNS:localhost,IP:127.0.0.1"
    if [[ $host =~ ^[0-9.]+$ || $host == *:* ]]; then san="$san,IP:$host"; else san="$san,DNS:$host"; fi
    {
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
            -subj "/CN=airlock kafka test CA" -addext basicConstraints=critical,CA:TRUE \
            -addext keyUsage=critical,keyCertSign,cRLSign -keyout "$d/ca.key" -out "$d/ca.pem" &&
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$host" \
                -keyout "$d/broker.key" -out "$d/broker.csr" &&
            printf '%s\n' "subjectAltName=$san" basicConstraints=CA:FALSE \
                keyUsage=critical,digitalSignature extendedKeyUsage=serverAuth >"$d/broker.ext" &&
            openssl x509 -req -in "$d/broker.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
                -days 7 -extfile "$d/broker.ext" -out "$d/broker.pem" &&
            openssl pkcs12 -export -in "$d/broker.pem" -inkey "$d/broker.key" -certfile "$d/ca.pem" \
                -name broker -out "$d/broker.p12" -passout pass:airlock-test
    } >"$d/openssl.log" 2>&1 || { tb_err "openssl failed:"; tail -n 5 "$d/openssl.log" >&2; return 1; }
}

kafka_client_props() { # FILE USER PASSWORD [java|kcat]
    [ $# -ge 3 ] || { tb_err "usage: kafka_client_props FILE USER PASSWORD [java|kcat]"; return 1; }
    [ -n "${KAFKA_CA:-}" ] || { tb_err "kafka_client_props: no SASL_SSL broker started (kafka_start --sasl)"; return 1; }
    case ${4:-java} in
    java)
        printf '%s\n' security.protocol=SASL_SSL sasl.mechanism=PLAIN \
            "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"$2\" password=\"$3\";" \
            ssl.truststore.type=PEM "ssl.truststore.location=$KAFKA_CA" >"$1"
        ;;
    kcat)
        printf '%s\n' security.protocol=SASL_SSL sasl.mechanisms=PLAIN "sasl.username=$2" \
            "sasl.password=$3" "ssl.ca.location=$KAFKA_CA" >"$1"
        ;;
    *) tb_err "kafka_client_props: kind is java or kcat"; return 1 ;;
    esac
}

# A cluster id: 16 random bytes, base64url without padding (what `StorageTool random-uuid` prints,
# without a JVM start); Kafka avoids ids starting with "-" (they look like options).
_kafka_cluster_id() {
    local id
    while :; do
        id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
        [ "${id:0:1}" != - ] && { echo "$id"; return 0; }
    done
}

kafka_start() {
    if [ $# -lt 3 ]; then tb_err "usage: kafka_start NETNS HOST NAME [--nodes N] [--port P] [--sasl] [--sasl-port P] [--controller-port P] [--user NAME:PASSWORD]... [--dir DIR] [--xmx SIZE] [--prop K=V]..."; return 1; fi
    local ns=$1 host=$2 name=$3
    shift 3
    local nodes=1 port=9092 sasl=0 sasl_port=9192 cport=9292 dir="" own=0 xmx=$KAFKA_XMX
    local users=() extra=() u i rf isr voters="" listeners advertised protos jaas node_dir
    while [ $# -gt 0 ]; do
        case $1 in
        --nodes) nodes=$2; shift 2 ;;
        --port) port=$2; shift 2 ;;
        --sasl) sasl=1; shift ;;
        --sasl-port) sasl_port=$2; shift 2 ;;
        --controller-port) cport=$2; shift 2 ;;
        --user) users+=("$2"); shift 2 ;;
        --dir) dir=$2; shift 2 ;;
        --xmx) xmx=$2; shift 2 ;;
        --prop) extra+=("$2"); shift 2 ;;
        *) tb_err "kafka_start: unknown option $1"; return 1 ;;
        esac
    done
    [[ $nodes =~ ^[1-9]$ ]] || { tb_err "kafka_start: --nodes is 1..9"; return 1; }
    [ -f "$KAFKA_LIB/.complete" ] || { tb_err "Kafka is not installed (call kafka_install)"; return 1; }
    if [ -z "$ns" ] && [[ $host != 127.* ]]; then
        tb_err "kafka_start: without a namespace the broker listens on loopback only (got $host)"; return 1
    fi
    if [ -n "$ns" ] && ! _tb_ns_exists "$ns"; then tb_err "kafka_start: namespace $ns does not exist"; return 1; fi
    [ ${#users[@]} -gt 0 ] || users=(alice:alice-secret bob:bob-secret)
    # Something already answering on a port of ours would make the clients talk to the wrong server.
    for ((i = 0; i < nodes; i++)); do
        for u in $((port + i)) $((cport + i)) $([ $sasl = 1 ] && echo $((sasl_port + i))); do
            _kafka_in "$ns"
            if "${_KAFKA_IN[@]}" python3 "$TESTBED_DIR/tcp_probe.py" connect "$host" "$u" 1 2>/dev/null; then
                tb_err "kafka_start: $host:$u${ns:+ inside $ns} is taken already"; return 1
            fi
        done
    done

    if [ -z "$dir" ]; then
        dir="$(mktemp -d "/tmp/airlock-kafka-$name.XXXXXX")" || return 1
        own=1
    fi
    mkdir -p "$dir" && dir="$(cd "$dir" && pwd)" || return 1
    [ $own = 1 ] && _KAFKA_OWN_DIRS+=("$dir")
    # The KAFKA_* variables are set at the end, once every node is ready: a failed start leaves
    # those of an earlier instance alone.
    local pids=() data_dirs=() logs=() boot="" boot_sasl="" ca="" cprops="" kprops="" user="" pw="" cid
    cid="$(_kafka_cluster_id)"

    if [ $sasl = 1 ]; then
        _kafka_certs "$dir/tls" "$host" || return 1
        ca="$dir/tls/ca.pem"
        jaas='org.apache.kafka.common.security.plain.PlainLoginModule required'
        for u in "${users[@]}"; do jaas="$jaas user_${u%%:*}=\"${u#*:}\""; done
        jaas="$jaas;"
        user="${users[0]%%:*}" pw="${users[0]#*:}"
        cprops="$dir/client-sasl.properties" kprops="$dir/kcat-sasl.properties"
        KAFKA_CA=$ca kafka_client_props "$cprops" "$user" "$pw" java || return 1
        KAFKA_CA=$ca kafka_client_props "$kprops" "$user" "$pw" kcat || return 1
    fi
    rf=$((nodes < 3 ? nodes : 3)) isr=$((nodes < 3 ? 1 : 2))
    for ((i = 1; i <= nodes; i++)); do voters="$voters${voters:+,}$i@$host:$((cport + i - 1))"; done

    for ((i = 1; i <= nodes; i++)); do
        node_dir="$dir/node$i"
        rm -rf "$node_dir" && mkdir -p "$node_dir" || return 1
        listeners="PLAINTEXT://$host:$((port + i - 1)),CONTROLLER://$host:$((cport + i - 1))"
        advertised="PLAINTEXT://$host:$((port + i - 1))"
        protos="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
        boot="$boot${boot:+,}$host:$((port + i - 1))"
        if [ $sasl = 1 ]; then
            listeners="$listeners,SASL_SSL://$host:$((sasl_port + i - 1))"
            advertised="$advertised,SASL_SSL://$host:$((sasl_port + i - 1))"
            protos="$protos,SASL_SSL:SASL_SSL"
            boot_sasl="$boot_sasl${boot_sasl:+,}$host:$((sasl_port + i - 1))"
        fi
        {
            echo "# written by kafka_start (tests/testbed/kafka.sh): instance $name, node $i of $nodes"
            printf '%s\n' process.roles=broker,controller "node.id=$i" "controller.quorum.voters=$voters" \
                "listeners=$listeners" "advertised.listeners=$advertised" controller.listener.names=CONTROLLER \
                inter.broker.listener.name=PLAINTEXT "listener.security.protocol.map=$protos" \
                "log.dirs=$node_dir/data" num.partitions=1 "default.replication.factor=1" \
                "offsets.topic.replication.factor=$rf" offsets.topic.num.partitions=3 \
                "transaction.state.log.replication.factor=$rf" "transaction.state.log.min.isr=$isr" \
                "share.coordinator.state.topic.replication.factor=$rf" "share.coordinator.state.topic.min.isr=$isr" \
                group.initial.rebalance.delay.ms=0
            if [ $sasl = 1 ]; then
                printf '%s\n' ssl.keystore.type=PKCS12 "ssl.keystore.location=$dir/tls/broker.p12" \
                    ssl.keystore.password=airlock-test ssl.key.password=airlock-test ssl.client.auth=none \
                    listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN \
                    "listener.name.sasl_ssl.plain.sasl.jaas.config=$jaas"
            fi
            [ ${#extra[@]} -eq 0 ] || printf '%s\n' "${extra[@]}"
        } >"$node_dir/server.properties" || return 1
        data_dirs+=("$node_dir/data")
        logs+=("$node_dir/kafka.log")
    done

    # Format every node with the same cluster id (static voters: no --standalone); in parallel,
    # each is a JVM start. No network is involved, so this runs on the host.
    local fpids=() rc=0
    for ((i = 1; i <= nodes; i++)); do
        timeout -k 5 "$KAFKA_TOOL_TIMEOUT" java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
            -Dlog4j2.configurationFile="$KAFKA_SRC/log4j2-tools.properties" -cp "$KAFKA_LIB/*" \
            kafka.tools.StorageTool format -t "$cid" -c "$dir/node$i/server.properties" \
            </dev/null >"$dir/node$i/format.log" 2>&1 &
        fpids+=($!)
    done
    for ((i = 1; i <= nodes; i++)); do
        if ! wait "${fpids[$((i - 1))]}"; then
            tb_err "formatting node $i of $name failed:"; _kafka_log_tail "$dir/node$i/format.log" 10; rc=1
        fi
    done
    [ $rc = 0 ] || return 1

    _kafka_in "$ns"
    for ((i = 1; i <= nodes; i++)); do
        # A plain command in the background (ip netns exec execs java), so $! is the JVM itself.
        "${_KAFKA_IN[@]}" java -Xms128m "-Xmx$xmx" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
            -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
            -Dlog4j2.configurationFile="$KAFKA_SRC/log4j2-broker.properties" \
            -cp "$KAFKA_LIB/*" kafka.Kafka "$dir/node$i/server.properties" \
            </dev/null >"$dir/node$i/kafka.log" 2>&1 &
        pids+=($!)
        KAFKA_PIDS+=($!)
        echo $! >"$dir/node$i/kafka.pid"
    done

    # Readiness from the logs only: no connection from here (the host) to a namespace address.
    local deadline=$((SECONDS + KAFKA_START_TIMEOUT)) ready pid
    while :; do
        ready=0
        for ((i = 1; i <= nodes; i++)); do
            pid=${pids[$((i - 1))]}
            if grep -q 'Kafka Server started' "${logs[$((i - 1))]}" 2>/dev/null; then
                ready=$((ready + 1))
            elif ! kill -0 "$pid" 2>/dev/null; then
                tb_err "Kafka node $i of $name (pid $pid) exited during start-up; last lines of ${logs[$((i - 1))]}:"
                _kafka_log_tail "${logs[$((i - 1))]}" 20
                kafka_stop "${pids[@]}"
                return 1
            fi
        done
        [ $ready = "$nodes" ] && break
        if [ $SECONDS -ge $deadline ]; then
            tb_err "Kafka $name: $ready of $nodes nodes ready after $KAFKA_START_TIMEOUT s; last lines of the logs:"
            for ((i = 1; i <= nodes; i++)); do
                echo "--- node $i: ${logs[$((i - 1))]}" >&2
                _kafka_log_tail "${logs[$((i - 1))]}" 12
            done
            kafka_stop "${pids[@]}"
            return 1
        fi
        sleep 0.25
    done
    KAFKA_DIR=$dir KAFKA_CLUSTER_ID=$cid
    KAFKA_NODE_PIDS=("${pids[@]}") KAFKA_DATA_DIRS=("${data_dirs[@]}") KAFKA_LOGS=("${logs[@]}")
    KAFKA_PID=${pids[0]} KAFKA_DATA_DIR=${data_dirs[0]} KAFKA_LOG=${logs[0]}
    KAFKA_BOOTSTRAP=$boot KAFKA_BOOTSTRAP_SASL=$boot_sasl KAFKA_CA=$ca
    KAFKA_CLIENT_PROPS=$cprops KAFKA_KCAT_PROPS=$kprops KAFKA_SASL_USER=$user KAFKA_SASL_PASSWORD=$pw
    tb_ok "Kafka $name: $nodes node(s) ready${ns:+ inside $ns} (PLAINTEXT $boot${boot_sasl:+, SASL_SSL $boot_sasl})"
}

# True if PID is a broker JVM started by kafka_start (so a reused PID is never signalled).
_kafka_is_ours() {
    local cmd
    cmd="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" || return 1
    [[ $cmd == *" kafka.Kafka "* && $cmd == *log4j2-broker.properties* ]]
}

kafka_stop() {
    local pids=("$@") all=0 pid live deadline i
    if [ $# -eq 0 ]; then all=1; pids=("${KAFKA_PIDS[@]}"); fi
    live=()
    for pid in "${pids[@]}"; do
        [ -n "$pid" ] || continue
        if _kafka_is_ours "$pid"; then
            kill -TERM "$pid" 2>/dev/null && live+=("$pid")
        elif ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null || true # already gone: reap it if it was our child
        else
            tb_err "kafka_stop: pid $pid is not a broker started by kafka_start; left alone"
        fi
    done
    deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
    for pid in "${live[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null && _kafka_is_ours "$pid"; then
            tb_err "Kafka (pid $pid) still running $KAFKA_STOP_TIMEOUT s after SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        for i in "${!KAFKA_PIDS[@]}"; do [ "${KAFKA_PIDS[$i]}" = "$pid" ] && unset 'KAFKA_PIDS[i]'; done
    done
    if [ $all = 1 ]; then
        if [ -z "${KEEP_WORK:-}" ]; then
            for i in "${_KAFKA_OWN_DIRS[@]}"; do [ -d "$i" ] && rm -rf "$i"; done
            _KAFKA_OWN_DIRS=()
        fi
        if [ -n "$_KAFKA_TOOL_DIR" ]; then rm -rf "$_KAFKA_TOOL_DIR"; _KAFKA_TOOL_DIR=""; fi
    fi
    return 0
}

# ---------------------------------------------------------------------------------------------
# clients

kafka_topic_create() {
    [ $# -ge 3 ] || { tb_err "usage: kafka_topic_create NETNS BOOTSTRAP TOPIC [PARTITIONS] [--replication-factor N] [--command-config FILE] [--config K=V]..."; return 1; }
    local ns=$1 bootstrap=$2 topic=$3 parts=1 rf=1 args=() rc=0
    shift 3
    if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then parts=$1; shift; fi
    while [ $# -gt 0 ]; do
        case $1 in
        --replication-factor) rf=$2; shift 2 ;;
        --command-config | --config) args+=("$1" "$2"); shift 2 ;;
        *) tb_err "kafka_topic_create: unknown option $1"; return 1 ;;
        esac
    done
    _kafka_tool "$ns" org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --create \
        --topic "$topic" --partitions "$parts" --replication-factor "$rf" "${args[@]}" </dev/null >/dev/null || rc=$?
    [ $rc = 0 ] || { _kafka_tool_failed "creating topic $topic" $rc; return 1; }
}

kafka_produce() {
    [ $# -ge 3 ] || { tb_err "usage: kafka_produce NETNS BOOTSTRAP TOPIC [CLIENT_PROPS|-] [TOOL ARGS...]"; return 1; }
    local ns=$1 bootstrap=$2 topic=$3 props=${4:--} rc=0 args=()
    shift $(($# < 4 ? $# : 4))
    [ "$props" = - ] || args=(--producer.config "$props")
    _kafka_tool "$ns" org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$bootstrap" --topic "$topic" \
        "${args[@]}" "$@" >/dev/null || rc=$?
    [ $rc = 0 ] || { _kafka_tool_failed "console producer ($topic)" $rc; return 1; }
}

kafka_consume() {
    [ $# -ge 4 ] || { tb_err "usage: kafka_consume NETNS BOOTSTRAP TOPIC N [GROUP|-] [CLIENT_PROPS|-] [TOOL ARGS...]"; return 1; }
    local ns=$1 bootstrap=$2 topic=$3 n=$4 group=${5:--} props=${6:--} rc=0 args=() got
    shift $(($# < 6 ? $# : 6))
    [ "$group" = - ] || args+=(--group "$group")
    [ "$props" = - ] || args+=(--consumer.config "$props")
    _kafka_tool "$ns" org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$bootstrap" \
        --topic "$topic" --from-beginning --max-messages "$n" --timeout-ms "$KAFKA_CONSUME_TIMEOUT_MS" \
        "${args[@]}" "$@" </dev/null || rc=$?
    got="$(sed -n 's/.*Processed a total of \([0-9]*\) messages.*/\1/p' "$KAFKA_TOOL_LOG" | tail -1)"
    if [ $rc != 0 ] && [ "$rc" != 1 ] || [ -z "$got" ]; then _kafka_tool_failed "console consumer ($topic)" $rc; return 1; fi
    if [ "$got" -lt "$n" ]; then
        tb_err "console consumer ($topic): $got of $n messages within $((KAFKA_CONSUME_TIMEOUT_MS / 1000)) s"
        grep -v 'Processed a total' "$KAFKA_TOOL_LOG" | _kafka_log_tail /dev/stdin 8
        return 1
    fi
}

kafka_log_grep() {
    [ $# -ge 2 ] || { tb_err "usage: kafka_log_grep DATADIR STRING [TOPIC]"; return 2; }
    local dir=$1 needle=$2 topic=${3:-} files=() f n found=1
    [ -d "$dir" ] || { tb_err "kafka_log_grep: $dir is not a directory"; return 2; }
    for f in "$dir"/*-[0-9]*/*.log; do
        [ -f "$f" ] || continue
        case $f in "$dir"/__cluster_metadata-*) continue ;; esac
        if [ -n "$topic" ]; then case $f in "$dir/$topic"-[0-9]*/*) ;; *) continue ;; esac; fi
        files+=("$f")
    done
    [ ${#files[@]} -gt 0 ] || { tb_err "kafka_log_grep: no topic data file in $dir${topic:+ for $topic}"; return 2; }
    for f in "${files[@]}"; do
        n="$(grep -a -o -F -e "$needle" "$f" | wc -l)"
        if [ "$n" -gt 0 ]; then echo "$f: $n"; found=0; fi
    done
    return $found
}

kafka_kcat() {
    [ $# -ge 2 ] || { tb_err "usage: kafka_kcat NETNS ARGS..."; return 1; }
    local ns=$1
    shift
    command -v kcat >/dev/null || _kafka_apt_install kcat || return 1
    _kafka_in "$ns"
    timeout -k 5 "$KAFKA_TOOL_TIMEOUT" "${_KAFKA_IN[@]}" kcat "$@"
}

kafka_python_install() {
    [ -f "$KAFKA_PYTHON_DIR/.complete" ] && return 0
    command -v python3 >/dev/null || _kafka_apt_install python3 || return 1
    python3 -m pip --version >/dev/null 2>&1 || _kafka_apt_install python3-pip || return 1
    mkdir -p "$AIRLOCK_CACHE" || return 1
    tb_log "installing kafka-python $KAFKA_PYTHON_VERSION from PyPI into $KAFKA_PYTHON_DIR"
    (
        # One installer at a time; a second one waits and then finds it done.
        exec 9>"$KAFKA_PYTHON_DIR.lock"
        flock 9
        [ -f "$KAFKA_PYTHON_DIR/.complete" ] && exit 0
        rm -rf "$KAFKA_PYTHON_DIR.tmp" "$KAFKA_PYTHON_DIR" || exit 1
        # --target: a folder of its own, nothing installed into the system's Python (so Debian's
        # "externally managed" guard does not apply; the variable is for pips that check anyway).
        PIP_BREAK_SYSTEM_PACKAGES=1 timeout -k 5 300 python3 -m pip install --quiet --no-deps \
            --disable-pip-version-check --no-input --target "$KAFKA_PYTHON_DIR.tmp" \
            "kafka-python==$KAFKA_PYTHON_VERSION" >"$KAFKA_PYTHON_DIR.log" 2>&1 || exit 1
        PYTHONPATH="$KAFKA_PYTHON_DIR.tmp" python3 -c 'import kafka, sys; sys.exit(kafka.__version__ != sys.argv[1])' \
            "$KAFKA_PYTHON_VERSION" >>"$KAFKA_PYTHON_DIR.log" 2>&1 || exit 1
        mv "$KAFKA_PYTHON_DIR.tmp" "$KAFKA_PYTHON_DIR" && : >"$KAFKA_PYTHON_DIR/.complete"
    ) || {
        tb_err "installing kafka-python $KAFKA_PYTHON_VERSION failed; last lines of $KAFKA_PYTHON_DIR.log:"
        tail -n 15 "$KAFKA_PYTHON_DIR.log" >&2
        return 1
    }
}

# _kafka_py NETNS ARGS...: kafka/kafka_client.py inside NETNS, bounded; stderr to $KAFKA_TOOL_LOG.
_kafka_py() {
    local ns=$1
    shift
    [ -f "$KAFKA_PYTHON_DIR/.complete" ] || { tb_err "kafka-python is not installed (call kafka_python_install)"; return 1; }
    _kafka_tool_log || return 1
    _kafka_in "$ns"
    timeout -k 5 "$KAFKA_TOOL_TIMEOUT" "${_KAFKA_IN[@]}" env PYTHONPATH="$KAFKA_PYTHON_DIR" PYTHONDONTWRITEBYTECODE=1 \
        python3 "$KAFKA_SRC/kafka_client.py" "$@" 2>"$KAFKA_TOOL_LOG"
}

kafka_py_produce() {
    [ $# -ge 3 ] || { tb_err "usage: kafka_py_produce NETNS BOOTSTRAP TOPIC [--transactional-id ID [--abort]]"; return 1; }
    local ns=$1 rc=0
    shift
    _kafka_py "$ns" produce "$@" >/dev/null || rc=$?
    [ $rc = 0 ] || { _kafka_tool_failed "kafka-python producer ($2)" $rc; return 1; }
}

kafka_py_consume() {
    [ $# -ge 5 ] || { tb_err "usage: kafka_py_consume NETNS BOOTSTRAP TOPIC N GROUP [--isolation-level L] [--timeout S]"; return 2; }
    local ns=$1 rc=0
    shift
    _kafka_py "$ns" consume "$@" || rc=$?
    case $rc in
    0) ;;
    1) tb_err "kafka-python consumer ($2): $(tail -1 "$KAFKA_TOOL_LOG"), $3 wanted"; return 1 ;;
    *) _kafka_tool_failed "kafka-python consumer ($2)" $rc; return 2 ;;
    esac
}

kafka_py_committed() {
    [ $# -ge 4 ] || { tb_err "usage: kafka_py_committed NETNS BOOTSTRAP TOPIC GROUP"; return 1; }
    local ns=$1 rc=0
    shift
    _kafka_py "$ns" committed "$@" || rc=$?
    [ $rc = 0 ] || { _kafka_tool_failed "kafka-python committed offset ($2, $3)" $rc; return 1; }
}
