# Shared helpers for scenario scripts: temp state, assertions, cleanup by PID, PostgreSQL.
# Sourced, not executed.

AIRLOCK_CACHE="${AIRLOCK_CACHE:-$HOME/.cache/airlock}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
AIRLOCK="${AIRLOCK_BIN:-$ROOT/target/release/airlock}"
CLEANUP_CMDS=()
STEP=0

log() { printf '\033[1m[%s] %s\033[0m\n' "$(date +%H:%M:%S)" "$*" >&2; }
pass() { STEP=$((STEP + 1)); printf '  \033[32mok %d\033[0m %s\n' "$STEP" "$*" >&2; }
fail() { printf '  \033[31mFAIL\033[0m %s\n' "$*" >&2; exit 1; }
on_exit() { CLEANUP_CMDS+=("$*"); }
run_cleanup() {
    local i
    for ((i = ${#CLEANUP_CMDS[@]} - 1; i >= 0; i--)); do eval "${CLEANUP_CMDS[$i]}" >/dev/null 2>&1 || true; done
}
trap run_cleanup EXIT

# A fresh AIRLOCK_HOME removed at exit (nodes stopped first).
fresh_home() {
    export AIRLOCK_HOME
    AIRLOCK_HOME="$(mktemp -d /tmp/airlock-home.XXXXXX)"
    on_exit "rm -rf '$AIRLOCK_HOME'"
    on_exit "'$AIRLOCK' node delete --all --yes"
}

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits until a TCP port accepts connections (bounded).
wait_port() {
    local port=$1 i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    fail "port $port never opened"
}

ensure_postgres() {
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        log "installing PostgreSQL from Debian"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql postgresql-client >/dev/null
    fi
    PG_BIN="$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")"
}

# Starts a throwaway PostgreSQL cluster on 127.0.0.1:$1 (trust auth), stopped at exit.
start_postgres() {
    local port=$1
    ensure_postgres
    PG_DIR="$(mktemp -d /tmp/airlock-pg.XXXXXX)"
    chown postgres "$PG_DIR"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null
    runuser -u postgres -- "$PG_BIN/pg_ctl" -w -D "$PG_DIR/data" -l "$PG_DIR/log" \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c max_connections=300" start >/dev/null
    on_exit "rm -rf '$PG_DIR'"
    on_exit "runuser -u postgres -- '$PG_BIN/pg_ctl' -D '$PG_DIR/data' -m fast stop"
}
