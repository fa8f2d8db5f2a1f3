#!/usr/bin/env bash
# Scenario: a TCP portal between two nodes carrying real PostgreSQL traffic, plus the failure
# cases a user meets: target down, outlet node restart, wrong --authorized, garbage and idle
# connections at the node listener. Uses the release binary and a throwaway PostgreSQL.
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
[ -x "$AIRLOCK" ] || fail "build first: cargo build --release"
fresh_home

PG_PORT=$(free_port)
log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
start_postgres "$PG_PORT"

log "creating identities and nodes"
"$AIRLOCK" identity create alice >/dev/null
"$AIRLOCK" node create n1 >/dev/null 2>&1
"$AIRLOCK" node create n2 >/dev/null 2>&1
N1_ID=$("$AIRLOCK" node show n1 --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["identifier"])')
[ "$("$AIRLOCK" node list --output json | python3 -c 'import json,sys; print(sum(n["status"]=="running" for n in json.load(sys.stdin)))')" = 2 ] || fail "two running nodes"
pass "two nodes running"

[ "$("$AIRLOCK" message send hello --from n2 --to /node/n1/secure/api/service/uppercase)" = HELLO ] || fail "uppercase over a secure channel"
SC=$("$AIRLOCK" secure-channel create --from n2 --to /node/n1/service/api --authorized "$N1_ID")
[ "$("$AIRLOCK" message send hi --from n2 --to "$SC/service/echo")" = hi ] || fail "echo through $SC"
pass "messages over secure channels ($SC)"

OTHER_ID=$("$AIRLOCK" identity create mallory)
if out=$("$AIRLOCK" secure-channel create --from n2 --to /node/n1/service/api --authorized "$OTHER_ID" 2>&1); then
    fail "channel with the wrong --authorized identifier was accepted"
fi
grep -q "not authorized" <<<"$out" || fail "unclear error for wrong --authorized: $out"
pass "wrong --authorized identifier refused: ${out#error: }"

INLET=$(free_port)
"$AIRLOCK" tcp-outlet create --at n1 --to "127.0.0.1:$PG_PORT" >/dev/null 2>&1
"$AIRLOCK" tcp-inlet create --at n2 --from "127.0.0.1:$INLET" --to /node/n1/secure/api/service/outlet >/dev/null 2>&1
psql_at() { timeout 60 psql -X -h 127.0.0.1 -p "$1" -U postgres -At "${@:2}"; }
# `refused SECONDS PORT WHAT`: a query through PORT must fail as a closed or refused connection
# (psql exit 2) within SECONDS — `timeout` runs the real psql (a shell function cannot be timed).
# Sets REFUSED_MS and REFUSED_WHY.
refused() {
    local secs=$1 port=$2 what=$3 start rc=0
    start=$(date +%s%N)
    REFUSED_WHY=$(timeout "$secs" psql -X -h 127.0.0.1 -p "$port" -U postgres -At -c 'SELECT 1' 2>&1 >/dev/null) || rc=$?
    REFUSED_MS=$(( ($(date +%s%N) - start) / 1000000 ))
    case $rc in
        0) fail "$what: the query succeeded" ;;
        124) fail "$what: the client hung for ${secs} s instead of being closed" ;;
        2) ;;
        *) fail "$what: psql exited $rc: $REFUSED_WHY" ;;
    esac
}
[ "$(psql_at "$INLET" -c 'SELECT 40 + 2')" = 42 ] || fail "query through the portal"
psql_at "$INLET" -q -c "CREATE TABLE t(id int, v text); INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1,1000) i" 
[ "$(psql_at "$INLET" -c 'SELECT count(*) FROM t')" = 1000 ] || fail "insert through the portal"
pass "PostgreSQL through the portal"

log "1 GiB COPY through the portal vs direct"
GEN="COPY (SELECT repeat(md5(i::text), 32) FROM generate_series(1, 1048576) i) TO STDOUT"
t0=$(date +%s.%N)
PORTAL_SUM=$(psql_at "$INLET" -c "$GEN" | tee >(wc -c > /tmp/airlock-bytes.$$) | sha256sum | cut -d' ' -f1)
t1=$(date +%s.%N)
DIRECT_SUM=$(psql_at "$PG_PORT" -c "$GEN" | sha256sum | cut -d' ' -f1)
BYTES=$(cat /tmp/airlock-bytes.$$); rm -f /tmp/airlock-bytes.$$
[ "$BYTES" -ge 1073741824 ] || fail "expected at least 1 GiB, got $BYTES bytes"
[ "$PORTAL_SUM" = "$DIRECT_SUM" ] || fail "SHA-256 mismatch: $PORTAL_SUM vs $DIRECT_SUM"
pass "$BYTES bytes, SHA-256 $PORTAL_SUM matches ($(python3 -c "print(f'{$BYTES/($t1-$t0)/1e6:.0f}')") MB/s)"

log "200 concurrent PostgreSQL sessions through the portal"
pids=()
for i in $(seq 1 200); do
    ( [ "$(psql_at "$INLET" -c "SELECT $i, pg_sleep(0.2)" | cut -d'|' -f1)" = "$i" ] ) &
    pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
[ "$failed" = 0 ] || fail "$failed of 200 concurrent sessions failed"
pass "200 concurrent sessions"

log "outlet target down"
DEAD=$(free_port)
INLET2=$(free_port)
"$AIRLOCK" tcp-outlet create --at n1 --from dead --to "127.0.0.1:$DEAD" >/dev/null 2>&1
"$AIRLOCK" tcp-inlet create --at n2 --alias dead --from "127.0.0.1:$INLET2" --to /node/n1/secure/api/service/dead >/dev/null 2>&1
refused 10 "$INLET2" "query to a dead target"
grep -qi "closed\|terminat\|reset" <<<"$REFUSED_WHY" || fail "dead target: unexpected reason: $REFUSED_WHY"
[ "$REFUSED_MS" -lt 5000 ] || fail "client waited ${REFUSED_MS} ms for a dead target"
pass "dead target: client closed cleanly in ${REFUSED_MS} ms ($(head -1 <<<"$REFUSED_WHY"))"

log "outlet node restart"
"$AIRLOCK" node stop n1 2>/dev/null
# The inlet keeps trying to re-establish its link for 15 s, then closes the client.
refused 30 "$INLET" "query while the outlet node is down"
grep -qi "closed\|terminat\|reset" <<<"$REFUSED_WHY" || fail "outlet node down: unexpected reason: $REFUSED_WHY"
"$AIRLOCK" node start n1 >/dev/null 2>&1
[ "$(psql_at "$INLET" -c 'SELECT count(*) FROM t')" = 1000 ] || fail "inlet did not recover after the outlet node restarted"
pass "inlet re-established its channel after the outlet node restarted"

log "hostile input at the node listener"
N1_PORT=$("$AIRLOCK" node show n1 --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["tcp_listen"].rsplit(":",1)[1])')
python3 - "$N1_PORT" <<'PY'
import socket, sys, os
port = int(sys.argv[1])
def send(b):
    s = socket.create_connection(("127.0.0.1", port)); s.sendall(b); return s
held = [send(b"GET / HTTP/1.1\r\n\r\n"), send(os.urandom(4096)), send(b"ALK\x01\xff\xff\xff\xff"),
        send(b"ALK\x01\x00\x00\x00\x10\x01\x05"), socket.create_connection(("127.0.0.1", port))]
for s in held[:4]:
    s.settimeout(5)
    try:
        assert s.recv(100) in (b"", b"ALK\x01"), "node answered garbage with data"
    except ConnectionResetError:
        pass
PY
[ "$("$AIRLOCK" message send alive --from n2 --to /node/n1/secure/api/service/uppercase)" = ALIVE ] || fail "node unusable after garbage"
[ "$(psql_at "$INLET" -c 'SELECT 1')" = 1 ] || fail "portal unusable after garbage"
pass "node survives garbage, truncated frames, absurd lengths and idle connections"

"$AIRLOCK" tcp-inlet delete inlet-1 --at n2 2>/dev/null
refused 5 "$INLET" "query to a deleted inlet"
grep -qi "refused" <<<"$REFUSED_WHY" || fail "deleted inlet: expected a refused connection: $REFUSED_WHY"
"$AIRLOCK" node delete --all --yes >/dev/null 2>&1
[ "$("$AIRLOCK" node list --output json)" = "[]" ] || fail "nodes left after delete --all"
pass "delete inlet, delete nodes"
log "portal_postgres: all $STEP checks passed"
