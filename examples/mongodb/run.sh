#!/usr/bin/env bash
# Demo (seed 002): a MongoDB-wire database in "Bank Corp" used by an app in "Analysis Corp",
# two networks that cannot reach each other, connected only through an Airlock project that the
# administrator hosts. Network namespaces stand in for the three hosts; needs root.
#
#   bash examples/mongodb/run.sh            # build, run the whole flow, leave it running
#   bash examples/mongodb/run.sh cleanup    # stop and remove everything
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
export TESTBED_PREFIX="${TESTBED_PREFIX:-demo_}"
WORK=/tmp/airlock-mongodb-demo
# AIRLOCK_BIN: use that binary instead of building one (the test command sets it).
AIRLOCK="${AIRLOCK_BIN:-$ROOT/target/release/airlock}"
source "$ROOT/tests/testbed/ferretdb.sh"
source "$ROOT/tests/testbed/mongodb.sh"
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

as() { # as PARTY airlock-args…   (runs inside the party's network namespace)
    local party=$1 ns; shift
    case $party in admin) ns=$NS_PROJECT ;; bank) ns=$NS_BANK ;; analysis) ns=$NS_ANALYSIS ;; esac
    ip netns exec "$ns" env AIRLOCK_HOME="$WORK/$party" "$AIRLOCK" "$@"
}

cleanup() {
    TESTBED_QUIET=1
    for p in admin bank analysis; do
        [ -d "$WORK/$p" ] && [ -x "$AIRLOCK" ] && AIRLOCK_HOME="$WORK/$p" "$AIRLOCK" node delete --all --yes >/dev/null 2>&1 || true
    done
    ferretdb_stop >/dev/null 2>&1 || true
    [ -f "$WORK/ferretdb.pid" ] && kill "$(cat "$WORK/ferretdb.pid")" 2>/dev/null || true
    testbed_down >/dev/null 2>&1 || true
    rm -rf "$WORK"
}

if [ "${1:-}" = cleanup ]; then cleanup; echo "Cleaned up."; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "This demo creates network namespaces: run it as root."; exit 1; }
cleanup

say "Building airlock and the test bed parts (FerretDB, the mongodb driver; cached)"
[ -n "${AIRLOCK_BIN:-}" ] || (cd "$ROOT" && cargo build --release -q -p airlock-cli)
ferretdb_install >/dev/null
mongodb_client_install >/dev/null
mkdir -p "$WORK"

say "Three hosts: project, Bank Corp, Analysis Corp (the two companies reach only the project)"
testbed_up
testbed_project_name project.example

say "Administrator: a self-hosted project and two one-time tickets"
as admin project create --listen 0.0.0.0:4000 --public-address project.example:4000
bank_ticket=$(as admin project ticket --usage-count 1 --expires-in 10m --attribute mongodb-outlet=true --relay mongodb)
analysis_ticket=$(as admin project ticket --usage-count 1 --expires-in 10m --attribute mongodb-inlet=true)

say "Bank Corp: MongoDB on its own localhost, a node, relay, policy and outlet"
ferretdb_start "$NS_BANK" 127.0.0.1:27017 "$WORK/ferretdb" >/dev/null
echo "$FERRETDB_PID" > "$WORK/ferretdb.pid"
as bank project enroll "$bank_ticket"
as bank node create
as bank relay create mongodb
as bank policy create --resource-type tcp-outlet --expression '(= subject.mongodb-inlet "true")'
as bank tcp-outlet create --to 127.0.0.1:27017

say "Analysis Corp: a node, policy and inlet on 127.0.0.1:17017 via the relay"
as analysis project enroll "$analysis_ticket"
as analysis node create
as analysis policy create --resource-type tcp-inlet --expression '(= subject.mongodb-outlet "true")'
as analysis tcp-inlet create --from 127.0.0.1:17017 --via mongodb

say "Analysis Corp's app (official mongodb driver) through the portal"
mongodb_client_run "$NS_ANALYSIS" mongodb://127.0.0.1:17017/ | tee "$WORK/app.out"
grep -q '^OK 3$' "$WORK/app.out"

echo
echo "The example run was successful"
echo "Clean up with: bash examples/mongodb/run.sh cleanup"
