#!/usr/bin/env bash
# End-to-end check of the MongoDB test bed, WITHOUT airlock:
#   builds/installs FerretDB and the Node client (cached), brings the three namespaces up, proves
#   their isolation, runs FerretDB on the bank's loopback, runs the demo app inside the bank
#   (expects "OK 3"), proves the analysis namespace cannot reach the bank's database, tears down
#   and checks that no namespace, process or route is left. Needs root.
#
#   bash tests/testbed/smoke.sh        (TESTBED_PREFIX, AIRLOCK_CACHE are honoured)
# eval'd single-quoted commands below expand when run, on purpose:
# shellcheck disable=SC2016
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=netns.sh
source "$HERE/netns.sh"
# shellcheck source=ferretdb.sh
source "$HERE/ferretdb.sh"
# shellcheck source=mongodb.sh
source "$HERE/mongodb.sh"

DB_PORT=27017
TIMINGS=()
DATA_DIR=""
CLEANED=0

now_ms() { date +%s%3N; }
timed() { # LABEL CMD...: runs CMD, records its duration
    local label=$1 t0 rc=0
    shift
    t0=$(now_ms)
    "$@" || rc=$?
    TIMINGS+=("$(awk -v l="$label" -v ms="$(($(now_ms) - t0))" 'BEGIN { printf "%-36s %7.1f s", l, ms / 1000 }')")
    return $rc
}
die() { tb_err "$*"; exit 1; }

cleanup() {
    [ "$CLEANED" = 1 ] && return 0
    CLEANED=1
    ferretdb_stop >/dev/null 2>&1 || true
    testbed_down >/dev/null 2>&1 || true
    [ -n "$DATA_DIR" ] && rm -rf "$DATA_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

_tb_need_root || exit 1
for ns in "$NS_PROJECT" "$NS_BANK" "$NS_ANALYSIS"; do
    _tb_ns_exists "$ns" && die "namespace $ns exists already (left by another run? testbed_down removes it)"
done

tb_log "install FerretDB $FERRETDB_VERSION (cache: $FERRETDB_HOME)"
timed "FerretDB build" ferretdb_install || die "FerretDB install failed"
TIMINGS[-1]="${TIMINGS[-1]} ($([ "$FERRETDB_INSTALL_CACHED" = 1 ] && echo 'warm: cached binary' || echo 'cold build'))"

tb_log "install the Node client (cache: $MONGODB_CLIENT_HOME)"
timed "npm ci mongodb $MONGODB_DRIVER_VERSION" mongodb_client_install || die "client install failed"
TIMINGS[-1]="${TIMINGS[-1]} ($([ "$MONGODB_INSTALL_CACHED" = 1 ] && echo 'warm: cached' || echo 'cold install'))"

timed "testbed_up" testbed_up || die "testbed_up failed"
timed "testbed_assert_isolated" testbed_assert_isolated || die "isolation check failed"

DATA_DIR="$(mktemp -d /tmp/testbed-ferretdb.XXXXXX)"
tb_log "FerretDB inside $NS_BANK on 127.0.0.1:$DB_PORT (bank loopback only)"
timed "ferretdb_start" ferretdb_start "$NS_BANK" "127.0.0.1:$DB_PORT" "$DATA_DIR/data" || die "FerretDB did not start"

tb_log "demo app inside $NS_BANK -> mongodb://127.0.0.1:$DB_PORT/"
out=""
timed "app.js in bank (insert 3, find)" eval 'out="$(mongodb_client_run "$NS_BANK" "mongodb://127.0.0.1:$DB_PORT/" 2>&1)"' ||
    { printf '%s\n' "$out" >&2; die "the demo app failed inside $NS_BANK"; }
printf '%s\n' "$out" | sed 's/^/    /' >&2
[ "$(printf '%s\n' "$out" | tail -n 1)" = "OK 3" ] || die "the demo app's last line is not 'OK 3'"
tb_ok "demo app in $NS_BANK printed OK 3"
# a second run against the same database still sees exactly its own 3 documents
out2="$(mongodb_client_run "$NS_BANK" "mongodb://127.0.0.1:$DB_PORT/" 2>&1)" || die "second app run failed: $out2"
[ "$(printf '%s\n' "$out2" | tail -n 1)" = "OK 3" ] || die "second app run: $out2"
tb_ok "second run against the same database: OK 3"

tb_log "the analysis namespace cannot reach the bank's database"
if err="$(testbed_tcp_connect "$NS_ANALYSIS" "$BANK_IP" "$DB_PORT" 2>&1)"; then
    die "analysis connected to $BANK_IP:$DB_PORT"
fi
tb_ok "TCP analysis -> $BANK_IP:$DB_PORT fails (${err#connect })"
if err="$(testbed_tcp_connect "$NS_PROJECT" "$BANK_IP" "$DB_PORT" 2>&1)"; then
    die "the project namespace reached FerretDB on $BANK_IP:$DB_PORT: it should listen on the bank's loopback only"
fi
tb_ok "TCP project -> $BANK_IP:$DB_PORT fails too (${err#connect }): FerretDB listens on loopback only"
out=""
if timed "app.js in analysis (must fail)" eval 'out="$(mongodb_client_run "$NS_ANALYSIS" "mongodb://$BANK_IP:$DB_PORT/" 2>&1)"'; then
    printf '%s\n' "$out" >&2
    die "the demo app reached the bank's database from $NS_ANALYSIS"
fi
printf '%s\n' "$out" | grep -q '^ERROR: ' || die "the demo app failed without a clear message: $out"
tb_ok "demo app in $NS_ANALYSIS fails: $(printf '%s\n' "$out" | grep '^ERROR: ' | cut -c1-160)"

tb_log "teardown"
for ns in "$NS_PROJECT" "$NS_BANK" "$NS_ANALYSIS"; do
    others="$(ip netns pids "$ns" | grep -vx "$FERRETDB_PID" | tr '\n' ' ' || true)"
    [ -z "${others// /}" ] || die "unexpected processes inside $ns: $others"
done
fdb_pid=$FERRETDB_PID
timed "ferretdb_stop" ferretdb_stop || die "ferretdb_stop failed"
if kill -0 "$fdb_pid" 2>/dev/null; then die "FerretDB (pid $fdb_pid) still runs"; fi
grep -q 'ferretdb: stopped' "$DATA_DIR/data/ferretdb.log" || die "FerretDB did not exit cleanly on SIGTERM: $(tail -5 "$DATA_DIR/data/ferretdb.log")"
tb_ok "FerretDB exited cleanly on SIGTERM"
timed "testbed_down" testbed_down
testbed_down # idempotent: a second call is harmless
CLEANED=1
rm -rf "$DATA_DIR"

left="$(ip netns list | grep -E "^(${NS_PROJECT}|${NS_BANK}|${NS_ANALYSIS})( |$)" || true)"
[ -z "$left" ] || die "namespaces left: $left"
left="$(ip route show | grep '10\.231\.' || true)"
[ -z "$left" ] || [ -n "$(ls -A "$TESTBED_STATE/ns" 2>/dev/null)" ] || die "routes left: $left"
tb_ok "no namespace, process or 10.231.0.0/16 route left"

printf '\ntimings:\n' >&2
printf '  %s\n' "${TIMINGS[@]}" >&2
echo "smoke: 1 passed, 0 failed"
