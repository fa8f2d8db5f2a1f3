#!/usr/bin/env bash
# Scenario (seed 002): MongoDB through an Airlock portal between isolated networks.
#
#   al_bank (FerretDB on its loopback, bank node: relay "mongodb", tcp-outlet, policy)
#      └── only link ──▶ al_project (self-hosted project node: authority + relays)
#   al_analysis (analysis node: tcp-inlet --via mongodb, policy; the official mongodb driver)
#      └── only link ──▶ al_project
#
# Asserts: the parties cannot reach each other directly; the Node.js app inserts 3 documents and
# reads them back through 127.0.0.1:17017; an identity enrolled without mongodb-inlet=true is
# refused by the outlet (the inlet names the refusal); refusals of tickets carry their reason; after
# `project member delete` the inlet reports the revocation within 60 s and every query fails.
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/testbed/ferretdb.sh"
source "$ROOT/tests/testbed/mongodb.sh"
[ -x "$AIRLOCK" ] || fail "build first: cargo build --release"
[ "$(id -u)" = 0 ] || fail "the scenario needs root (network namespaces)"

WORK="$(mktemp -d /tmp/airlock-mongodb.XXXXXX)"
on_exit "rm -rf '$WORK'"
on_exit "testbed_down"
on_exit "ferretdb_stop"

log "installing the test bed parts (cached in $AIRLOCK_CACHE)"
ferretdb_install >/dev/null
mongodb_client_install >/dev/null

log "network namespaces"
testbed_up
testbed_assert_isolated >/dev/null 2>&1 || fail "namespaces are not isolated"
testbed_project_name project.airlock.test || fail "hosts files for the namespaces"
pass "bank and analysis reach only the project host"

# `as PARTY cmd…` runs airlock inside the party's namespace with its own state.
as() {
    local party=$1; shift
    local ns
    case $party in admin) ns=$NS_PROJECT ;; bank|bank2) ns=$NS_BANK ;; analysis|analysis2|intruder) ns=$NS_ANALYSIS ;; esac
    ip netns exec "$ns" env AIRLOCK_HOME="$WORK/$party" "$AIRLOCK" "$@"
}
# `inlet_error PARTY PORT` prints the last error of PARTY's inlet listening on 127.0.0.1:PORT.
inlet_error() {
    as "$1" tcp-inlet list --output json | python3 -c '
import json, sys
port = sys.argv[1]
for i in json.load(sys.stdin):
    if i["from"].endswith(":" + port):
        print(i.get("last_error") or "")' "$2"
}
# `wait_inlet_error PARTY PORT TEXT SECS` waits until that inlet's last error contains TEXT.
inlet_error_has() { grep -q "$3" <<<"$(inlet_error "$1" "$2")"; }
wait_inlet_error() {
    wait_until "$4" inlet_error_has "$1" "$2" "$3" ||
        fail "inlet of $1 on port $2: expected an error with '$3' within $4 s, last error: $(inlet_error "$1" "$2")"
}
# `refused_with TEXT cmd…` runs cmd, which must fail with TEXT in its output.
refused_with() {
    local text=$1 out; shift
    if out=$("$@" 2>&1); then fail "accepted: $* (expected a refusal with '$text')"; fi
    grep -q -- "$text" <<<"$out" || fail "refused for another reason: $*: $out"
}
for p in admin bank analysis intruder bank2 analysis2; do on_exit "ip netns exec \$NS_PROJECT env AIRLOCK_HOME='$WORK/$p' '$AIRLOCK' node delete --all --yes"; done

log "administrator: self-hosted project"
as admin project create --listen 0.0.0.0:4000 --public-address project.airlock.test:4000 >/dev/null 2>&1 \
    || fail "project create"
BANK_TICKET=$(as admin project ticket --usage-count 1 --expires-in 10m --attribute mongodb-outlet=true --relay mongodb)
ANALYSIS_TICKET=$(as admin project ticket --usage-count 1 --expires-in 10m --attribute mongodb-inlet=true)
INTRUDER_TICKET=$(as admin project ticket --usage-count 1 --expires-in 10m --attribute team=other)
pass "project created, three tickets issued"

log "bank: database, node, relay, policy, outlet"
ferretdb_start "$NS_BANK" 127.0.0.1:27017 "$WORK/ferretdb" >/dev/null
as bank project enroll "$BANK_TICKET" >/dev/null 2>&1 || fail "bank enroll"
as bank node create >/dev/null 2>&1 || fail "bank node"
as bank relay create mongodb >/dev/null 2>&1 || fail "bank relay"
as bank policy create --resource-type tcp-outlet --expression '(= subject.mongodb-inlet "true")' >/dev/null 2>&1
as bank tcp-outlet create --to 127.0.0.1:27017 >/dev/null 2>&1 || fail "bank outlet"
[ "$(as bank relay list --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["status"])')" = up ] \
    || fail "relay not up"
pass "bank node with relay mongodb and an outlet to its private database"

log "analysis: node, policy, inlet via the relay, the app"
as analysis project enroll "$ANALYSIS_TICKET" >/dev/null 2>&1 || fail "analysis enroll"
as analysis node create >/dev/null 2>&1 || fail "analysis node"
as analysis policy create --resource-type tcp-inlet --expression '(= subject.mongodb-outlet "true")' >/dev/null 2>&1
as analysis tcp-inlet create --from 127.0.0.1:17017 --via mongodb >/dev/null 2>&1 || fail "analysis inlet"
if testbed_tcp_connect "$NS_ANALYSIS" "$BANK_IP" 27017 2 2>/dev/null; then fail "analysis reached the bank database directly"; fi
out=$(mongodb_client_run "$NS_ANALYSIS" mongodb://127.0.0.1:17017/) || fail "app through the portal: $out"
grep -q '^OK 3$' <<<"$out" || fail "app output: $out"
pass "the mongodb driver inserted and read 3 documents through the portal (direct access fails)"

log "the project node restarts: the relay and the portal come back by themselves"
as admin node stop project-default >/dev/null 2>&1 || fail "stop project node"
restart_at=$(date +%s.%N)
as admin node start project-default >/dev/null 2>&1 || fail "start project node"
back=""
for _ in $(seq 1 12); do
    if out=$(mongodb_client_run "$NS_ANALYSIS" mongodb://127.0.0.1:17017/ 2>&1) && grep -q '^OK 3$' <<<"$out"; then back=yes; break; fi
done
[ -n "$back" ] || fail "the portal did not recover after the project node restarted: $out"
recovery=$(python3 -c "import time; print(f'{time.time() - $restart_at:.1f}')")
[ "$(as bank relay list --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["status"])')" = up ] || fail "relay not re-registered"
pass "relay re-registered and the app works again ${recovery} s after the project node restarted"

log "an identity without mongodb-inlet=true"
as intruder project enroll "$INTRUDER_TICKET" >/dev/null 2>&1 || fail "intruder enroll"
as intruder node create >/dev/null 2>&1 || fail "intruder node"
# The outlet's refusal is permanent: the create reports it, or the inlet's status carries it.
if out=$(as intruder tcp-inlet create --from 127.0.0.1:17018 --via mongodb 2>&1); then
    wait_inlet_error intruder 17018 "the outlet refused this node" 20
else
    grep -q "refused" <<<"$out" || fail "the intruder's inlet failed for another reason: $out"
fi
start=$(date +%s)
if out=$(mongodb_client_run "$NS_ANALYSIS" mongodb://127.0.0.1:17018/ 2>&1); then fail "intruder got through: $out"; fi
grep -q "OK 3" <<<"$out" && fail "intruder read documents: $out"
pass "refused by the outlet's policy (the inlet says so; the app fails after $(( $(date +%s) - start )) s)"

refused_with "already been used" as analysis project enroll "$ANALYSIS_TICKET" --identity default
pass "a used ticket is refused"

log "enrollers may issue tickets (within their own grants), plain members may not"
ENROLLER_TICKET=$(as admin project ticket --enroller --attribute team=delegated)
as intruder project enroll "$ENROLLER_TICKET" --identity delegate >/dev/null 2>&1 || fail "enroller enroll"
DELEGATED=$(as intruder project ticket --identity delegate --attribute team=delegated) || fail "an enroller could not create a ticket"
case $DELEGATED in airlock-ticket:*) ;; *) fail "not a ticket: $DELEGATED" ;; esac
# An enroller grants only what it holds (docs/protocol.md §9.2).
if out=$(as intruder project ticket --identity delegate --attribute team=admins 2>&1); then
    fail "an enroller granted an attribute value it does not hold"
fi
grep -q "only attributes it holds itself" <<<"$out" || fail "escalation refused for another reason: $out"
refused_with "only project administrators may create enroller tickets" \
    as intruder project ticket --identity delegate --enroller
refused_with "only administrators and enrollers may create tickets" as bank project ticket
refused_with "only project administrators" as bank project member list
pass "ticket delegation: --enroller members issue tickets within their own grants; others are refused"

log "revocation: project member delete"
ANALYSIS_ID=$(as analysis identity show)
as admin project member delete "$ANALYSIS_ID" >/dev/null 2>&1 || fail "member delete"
deleted_at=$(date +%s)
# Cut means: the inlet's channel is refused because the member is revoked, and every later query
# fails (a one-off failure, which happens in this script, does not count).
cut=""
while [ $(( $(date +%s) - deleted_at )) -lt 60 ]; do
    if ! out=$(mongodb_client_run "$NS_ANALYSIS" mongodb://127.0.0.1:17017/ 2>&1) &&
        grep -q "revoked project member" <<<"$(inlet_error analysis 17017)"; then cut=yes; break; fi
done
[ -n "$cut" ] || fail "the deleted member was not cut within 60 s: $out; inlet: $(inlet_error analysis 17017)"
cut_after=$(( $(date +%s) - deleted_at ))
for attempt in 1 2; do
    if out=$(mongodb_client_run "$NS_ANALYSIS" mongodb://127.0.0.1:17017/ 2>&1); then
        fail "the deleted member reached the database again (attempt $attempt): $out"
    fi
    grep -q "OK 3" <<<"$out" && fail "the deleted member read documents: $out"
done
pass "the deleted member is cut ${cut_after} s after deletion: the inlet said revoked, later queries keep failing"
log "the same with one configuration file per party"
BANK2_TICKET=$(as admin project ticket --usage-count 1 --expires-in 10m --attribute mongodb-outlet=true --relay mongodb2)
ANALYSIS2_TICKET=$(as admin project ticket --usage-count 1 --expires-in 10m --attribute mongodb-inlet=true)
cat > "$WORK/bank.yaml" <<'YAML'
name: bank_corp
ticket: ${ENROLLMENT_TICKET}
relay: mongodb2
policies:
  - resource-type: tcp-outlet
    expression: (= subject.mongodb-inlet "true")
tcp-outlets:
  mongodb:
    to: 127.0.0.1:27017
YAML
cat > "$WORK/analysis.yaml" <<'YAML'
name: analysis_corp
ticket: ${ENROLLMENT_TICKET}
policies:
  - resource-type: tcp-inlet
    expression: (= subject.mongodb-outlet "true")
tcp-inlets:
  mongodb:
    from: 127.0.0.1:17019
    via: mongodb2
YAML
printf 'name: x\nticket: ${NOT_SET_ANYWHERE}\n' > "$WORK/broken.yaml"
err=$(as bank2 node create "$WORK/broken.yaml" 2>&1) && fail "a file with a missing variable was accepted"
grep -q "line 2" <<<"$err" || fail "missing-variable error does not name the line: $err"
printf 'name: x\ntcp-outlets:\n  db: { to: 127.0.0.1:1, colour: red }\n' > "$WORK/broken.yaml"
err=$(as bank2 node create "$WORK/broken.yaml" 2>&1) && fail "a file with an unknown key was accepted"
grep -q "line 3" <<<"$err" || fail "unknown-key error does not name the line: $err"
pass "configuration errors name the line"
ENROLLMENT_TICKET="$BANK2_TICKET" as bank2 node create "$WORK/bank.yaml" >/dev/null 2>&1 || fail "bank node from file"
ENROLLMENT_TICKET="$ANALYSIS2_TICKET" as analysis2 node create "$WORK/analysis.yaml" >/dev/null 2>&1 || fail "analysis node from file"
ok=""
for _ in 1 2 3; do
    if out=$(mongodb_client_run "$NS_ANALYSIS" mongodb://127.0.0.1:17019/ 2>&1) && grep -q '^OK 3$' <<<"$out"; then ok=yes; break; fi
done
[ -n "$ok" ] || fail "app through the file-configured portal: $out"
pass "the file-configured nodes carry the app's queries"
log "mongodb: all $STEP checks passed"
