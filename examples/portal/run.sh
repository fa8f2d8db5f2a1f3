#!/usr/bin/env bash
# Demo: a PostgreSQL server reachable only through an end-to-end encrypted Airlock portal.
#
#   psql ──▶ 127.0.0.1:15432 (tcp-inlet on node "client") ══ secure channel ══▶
#            (tcp-outlet on node "server") ──▶ PostgreSQL on 127.0.0.1:<private port>
#
# Usage: bash examples/portal/run.sh           # build, start everything, query, leave it running
#        bash examples/portal/run.sh cleanup   # stop and remove everything
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
STATE="${AIRLOCK_DEMO_DIR:-/tmp/airlock-demo}"
export AIRLOCK_HOME="$STATE/home"
# AIRLOCK_BIN: use that binary instead of building one (the test command sets it).
AIRLOCK="${AIRLOCK_BIN:-$ROOT/target/release/airlock}"
PG_PORT=15433
INLET_PORT=15432
# Queries give up instead of hanging if the portal does not answer.
export PGCONNECT_TIMEOUT=10
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

pg_bin() { dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)"; }

cleanup() {
    [ -x "$AIRLOCK" ] && [ -d "$AIRLOCK_HOME" ] && "$AIRLOCK" node delete --all --yes >/dev/null 2>&1 || true
    if [ -d "$STATE/pg" ]; then
        runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$STATE/pg/data" -m fast stop >/dev/null 2>&1 || true
    fi
    rm -rf "$STATE"
}

if [ "${1:-}" = cleanup ]; then
    cleanup
    echo "Cleaned up."
    exit 0
fi
cleanup

say "Building airlock (release)"
[ -n "${AIRLOCK_BIN:-}" ] || (cd "$ROOT" && cargo build --release -q -p airlock-cli)

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v psql >/dev/null; then
    say "Installing PostgreSQL from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql postgresql-client >/dev/null
fi

say "Starting PostgreSQL on 127.0.0.1:$PG_PORT (the 'private' service)"
mkdir -p "$STATE/pg" && chown postgres "$STATE/pg"
runuser -u postgres -- "$(pg_bin)/initdb" -D "$STATE/pg/data" -A trust -U postgres >/dev/null
runuser -u postgres -- "$(pg_bin)/pg_ctl" -w -D "$STATE/pg/data" -l "$STATE/pg/log" \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $STATE/pg" start >/dev/null

say "Creating an identity and two nodes"
"$AIRLOCK" identity create demo
"$AIRLOCK" node create server
"$AIRLOCK" node create client

say "Outlet next to the database, inlet next to the client"
"$AIRLOCK" tcp-outlet create --at server --to "127.0.0.1:$PG_PORT"
"$AIRLOCK" tcp-inlet create --at client --from "127.0.0.1:$INLET_PORT" --to /node/server/secure/api/service/outlet

say "Querying PostgreSQL through the portal"
psql -X -h 127.0.0.1 -p "$INLET_PORT" -U postgres -c \
    "CREATE TABLE accounts(id int PRIMARY KEY, owner text, balance numeric);
     INSERT INTO accounts VALUES (1, 'alice', 100), (2, 'bob', 250), (3, 'carol', 75);"
rows=$(psql -X -h 127.0.0.1 -p "$INLET_PORT" -U postgres -At -c "SELECT count(*) FROM accounts")
psql -X -h 127.0.0.1 -p "$INLET_PORT" -U postgres -c "SELECT * FROM accounts ORDER BY id"
[ "$rows" = 3 ] || { echo "expected 3 rows, got $rows"; exit 1; }

say "Messages over a secure channel"
"$AIRLOCK" message send "hello airlock" --from client --to /node/server/secure/api/service/uppercase

say "What is running"
"$AIRLOCK" node list
"$AIRLOCK" tcp-inlet list --at client

echo
echo "The example run was successful"
echo "Try: psql -h 127.0.0.1 -p $INLET_PORT -U postgres   (AIRLOCK_HOME=$AIRLOCK_HOME)"
echo "Clean up with: bash examples/portal/run.sh cleanup"
