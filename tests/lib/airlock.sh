# Helpers for scenarios whose Airlock parties (administrator, members) run in the test bed's
# network namespaces, each with its own AIRLOCK_HOME. Sourced after tests/lib/common.sh (AIRLOCK,
# fail, on_exit) and tests/testbed/netns.sh (NS_*), not executed. Party state lives in $WORK/PARTY:
# set WORK before calling any of these.
#
#   parties PARTY=NETNS...   declares the parties and the namespace each runs in; their nodes are
#                            deleted at exit (before what was registered with on_exit earlier)
#   as PARTY ARGS...         runs `airlock ARGS` inside the party's namespace with its own state
#   json_field PARTY FIELD ARGS...
#                            prints FIELD of the JSON object `airlock ARGS --output json` prints
#   ticket ARGS...           a one-time enrollment ticket of the administrator (party `admin`),
#                            valid 10 minutes: `ticket --attribute kafka-producer=true`
#   kafka_member PARTY TICKET KAFKA_INLET_EXPRESSION
#                            enrolls PARTY with TICKET, creates its node and its policies: kafka-inlet
#                            (who may be the Kafka outlet's end; "": the default), kafka-consumer (who may read what
#                            it produces: kafka-consumer=true), kafka-producer (whose records it
#                            reads: kafka-producer=true)

# shellcheck shell=bash
declare -A PARTY_NS=()

parties() {
    local p party
    for p in "$@"; do
        party=${p%%=*}
        PARTY_NS[$party]=${p#*=}
        on_exit "ip netns exec \$NS_PROJECT env AIRLOCK_HOME='$WORK/$party' '$AIRLOCK' node delete --all --yes"
    done
}

as() {
    local party=$1
    shift
    [ -n "${PARTY_NS[$party]:-}" ] || fail "as: unknown party $party (declare it with parties)"
    ip netns exec "${PARTY_NS[$party]}" env AIRLOCK_HOME="$WORK/$party" "$AIRLOCK" "$@"
}

json_field() {
    local party=$1 field=$2
    shift 2
    as "$party" "$@" --output json | python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$field"
}

ticket() { as admin project ticket --usage-count 1 --expires-in 10m "$@"; }

kafka_member() {
    local party=$1 ticket=$2 inlet_expression=$3
    as "$party" project enroll "$ticket" >/dev/null 2>&1 || fail "$party enroll"
    as "$party" node create >/dev/null 2>&1 || fail "$party node"
    if [ -n "$inlet_expression" ]; then
        as "$party" policy create --resource-type kafka-inlet --expression "$inlet_expression" >/dev/null ||
            fail "$party kafka-inlet policy"
    fi
    as "$party" policy create --resource-type kafka-consumer --expression '(= subject.kafka-consumer "true")' >/dev/null ||
        fail "$party kafka-consumer policy"
    as "$party" policy create --resource-type kafka-producer --expression '(= subject.kafka-producer "true")' >/dev/null ||
        fail "$party kafka-producer policy"
}
