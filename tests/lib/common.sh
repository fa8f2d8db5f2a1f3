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
on_exit "rm -f '${TMPDIR:-/tmp}/airlock-ports.$$'"
trap run_cleanup EXIT
# A time limit (tests/run.sh runs each scenario under `timeout`) or Ctrl-C still cleans up.
trap 'exit 143' TERM INT

# A fresh AIRLOCK_HOME removed at exit (nodes stopped first).
fresh_home() {
    export AIRLOCK_HOME
    AIRLOCK_HOME="$(mktemp -d /tmp/airlock-home.XXXXXX)"
    on_exit "rm -rf '$AIRLOCK_HOME'"
    on_exit "'$AIRLOCK' node delete --all --yes"
}

# A free TCP port on 127.0.0.1, never the same one twice in this script: the kernel readily
# hands a just-released ephemeral port out again, so two calls could otherwise collide. The
# ports given are kept in a file named after the script's PID ($$ is the same in subshells).
free_port() {
    local given="${TMPDIR:-/tmp}/airlock-ports.$$" port i
    for i in $(seq 1 100); do
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        if ! grep -qx "$port" "$given" 2>/dev/null; then
            echo "$port" >>"$given"
            echo "$port"
            return 0
        fi
    done
    echo "free_port: no fresh port after 100 tries" >&2
    return 1
}

# Waits until a TCP port accepts connections (bounded).
wait_port() {
    local port=$1 i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    fail "port $port never opened"
}

# `wait_until SECS CMD…` runs CMD every 0.2 s until it succeeds (0) or SECS have passed (1).
wait_until() {
    local deadline=$(( $(date +%s) + $1 ))
    shift
    while ! "$@"; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

ensure_postgres() {
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        log "installing PostgreSQL from Debian"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql postgresql-client >/dev/null
    fi
    PG_BIN="$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")"
}

# Starts a throwaway PostgreSQL cluster on 127.0.0.1:$1 (trust auth), stopped at exit.
# With a second argument DIR (from make_pg_certs), TLS is on with DIR/server.{pem,key}, and the
# database `airlock` accepts TCP connections only over TLS (hostssl); others also in plaintext.
start_postgres() {
    local port=$1 certs=${2:-} tls=""
    ensure_postgres
    PG_DIR="$(mktemp -d /tmp/airlock-pg.XXXXXX)"
    chown postgres "$PG_DIR"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null
    if [ -n "$certs" ]; then
        install -o postgres -m 0644 "$certs/server.pem" "$PG_DIR/server.pem"
        install -o postgres -m 0600 "$certs/server.key" "$PG_DIR/server.key"
        printf '%s\n' 'local all all trust' 'hostssl airlock all 127.0.0.1/32 trust' \
            'host airlock all 127.0.0.1/32 reject' 'host all all 127.0.0.1/32 trust' \
            >"$PG_DIR/data/pg_hba.conf"
        tls="-c ssl=on -c ssl_cert_file=$PG_DIR/server.pem -c ssl_key_file=$PG_DIR/server.key"
    fi
    runuser -u postgres -- "$PG_BIN/pg_ctl" -w -D "$PG_DIR/data" -l "$PG_DIR/log" \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c max_connections=300 $tls" start >/dev/null
    on_exit "rm -rf '$PG_DIR'"
    on_exit "runuser -u postgres -- '$PG_BIN/pg_ctl' -D '$PG_DIR/data' -m fast stop"
}

# Makes, in directory $1, a CA (ca.pem), another CA that signs nothing (other-ca.pem) and a
# server certificate for 127.0.0.1 and localhost signed by the first (server.pem, server.key).
make_pg_certs() {
    local d=$1 ca
    mkdir -p "$d"
    for ca in ca other-ca; do
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
            -subj "/CN=airlock test $ca" -addext basicConstraints=critical,CA:TRUE \
            -addext keyUsage=critical,keyCertSign,cRLSign \
            -keyout "$d/$ca.key" -out "$d/$ca.pem" 2>/dev/null || fail "openssl: CA $ca"
    done
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
        -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null || fail "openssl: server key"
    printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' 'basicConstraints=CA:FALSE' \
        'keyUsage=critical,digitalSignature' 'extendedKeyUsage=serverAuth' >"$d/server.ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days 2 -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null || fail "openssl: server certificate"
}
