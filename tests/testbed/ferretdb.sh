# FerretDB v1.24.2 (MongoDB wire protocol, SQLite backend) for the Airlock test bed.
# Sourced, not executed.
#
#   ferretdb_install                    builds $FERRETDB_BIN once (cached; ~2-3 min cold on 2 cores)
#   ferretdb_start NETNS ADDR:PORT DATADIR
#                                       starts it inside NETNS, waits until ADDR:PORT accepts
#                                       connections (bounded), sets FERRETDB_PID; log: DATADIR/ferretdb.log
#   ferretdb_stop [PID]                 stops PID, or every instance this shell started
#
# The binary is our own tiny main module (ferretdb-main/) embedding FerretDB's `ferretdb` package:
# a plain `go install .../cmd/ferretdb@v1.24.2` builds a binary that panics at start because the
# generated build/version/version.txt is not part of the module. Module downloads, the Go build
# cache and the binary all live in $FERRETDB_HOME, so a fresh clone of the repo reuses them.

# FERRETDB_PID, FERRETDB_INSTALL_CACHED are for the caller:
# shellcheck disable=SC2034
[ -n "${_TESTBED_FERRETDB_LOADED:-}" ] && return 0
_TESTBED_FERRETDB_LOADED=1
# shellcheck source=netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

FERRETDB_VERSION=v1.24.2
FERRETDB_HOME="$AIRLOCK_CACHE/ferretdb-$FERRETDB_VERSION"
FERRETDB_BIN="$FERRETDB_HOME/ferretdb"
FERRETDB_START_TIMEOUT="${FERRETDB_START_TIMEOUT:-30}"
FERRETDB_PIDS=()

# Hash of our main module: a cached binary built from other sources is rebuilt.
_ferretdb_src_hash() {
    (cd "$TESTBED_DIR/ferretdb-main" && cat go.mod go.sum main.go) | sha256sum | cut -c1-16
}

ferretdb_install() {
    local want have go_minor start
    want="$(_ferretdb_src_hash)"
    have="$(cat "$FERRETDB_BIN.src" 2>/dev/null || true)"
    if [ -x "$FERRETDB_BIN" ] && [ "$have" = "$want" ]; then
        FERRETDB_INSTALL_CACHED=1
        return 0
    fi
    FERRETDB_INSTALL_CACHED=0
    if ! command -v go >/dev/null; then
        tb_err "Go is needed to build FerretDB (1.24 or newer; Debian's golang package is too old)"
        return 1
    fi
    go_minor="$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')"
    if [ -z "$go_minor" ] || [ "$go_minor" -lt 24 ]; then
        tb_err "FerretDB $FERRETDB_VERSION needs Go 1.24 or newer, found $(go env GOVERSION)"
        return 1
    fi
    mkdir -p "$FERRETDB_HOME" || return 1
    tb_log "building FerretDB $FERRETDB_VERSION into $FERRETDB_BIN (cold: a few minutes)"
    start=$SECONDS
    (
        # One builder at a time; a second one waits and then finds the binary.
        exec 9>"$FERRETDB_HOME/.lock"
        flock 9
        if [ -x "$FERRETDB_BIN" ] && [ "$(cat "$FERRETDB_BIN.src" 2>/dev/null)" = "$want" ]; then exit 0; fi
        # Build from a copy, so the go command never writes into the work tree.
        rm -rf "$FERRETDB_HOME/src" && mkdir -p "$FERRETDB_HOME/src" &&
            cp "$TESTBED_DIR/ferretdb-main/go.mod" "$TESTBED_DIR/ferretdb-main/go.sum" \
                "$TESTBED_DIR/ferretdb-main/main.go" "$FERRETDB_HOME/src/" || exit 1
        cd "$FERRETDB_HOME/src" || exit 1
        export GOPATH="$FERRETDB_HOME/gopath" GOMODCACHE="$FERRETDB_HOME/gopath/pkg/mod" \
            GOCACHE="$FERRETDB_HOME/gocache" GOFLAGS="-mod=mod -modcacherw" \
            GOTOOLCHAIN="${GOTOOLCHAIN:-local}" CGO_ENABLED=0
        go build -trimpath -o "$FERRETDB_BIN.tmp" . || exit 1
        mv -f "$FERRETDB_BIN.tmp" "$FERRETDB_BIN" && echo "$want" >"$FERRETDB_BIN.src"
    ) || { tb_err "FerretDB build failed"; return 1; }
    tb_log "FerretDB built in $((SECONDS - start)) s"
}

ferretdb_start() {
    [ $# -eq 3 ] || { tb_err "usage: ferretdb_start NETNS ADDR:PORT DATADIR"; return 1; }
    local ns=$1 listen=$2 dir=$3 host port pid log
    host="${listen%:*}" port="${listen##*:}"
    host="${host#[}" host="${host%]}"
    [ -x "$FERRETDB_BIN" ] || { tb_err "FerretDB is not built (call ferretdb_install)"; return 1; }
    # Something already answering there would make the readiness wait below pass for the wrong server.
    if ip netns exec "$ns" python3 "$TESTBED_DIR/tcp_probe.py" connect "$host" "$port" 1 2>/dev/null; then
        tb_err "$listen inside $ns is taken already"
        return 1
    fi
    mkdir -p "$dir" || return 1
    dir="$(cd "$dir" && pwd)"
    log="$dir/ferretdb.log"
    DO_NOT_TRACK=1 ip netns exec "$ns" "$FERRETDB_BIN" --listen-addr "$listen" --sqlite-dir "$dir" \
        </dev/null >>"$log" 2>&1 &
    pid=$!
    FERRETDB_PID=$pid
    FERRETDB_PIDS+=("$pid")
    echo "$pid" >"$dir/ferretdb.pid"
    # The readiness probe is a client, so it runs inside the namespace too.
    if ! ip netns exec "$ns" python3 "$TESTBED_DIR/tcp_probe.py" wait "$host" "$port" "$FERRETDB_START_TIMEOUT"; then
        tb_err "FerretDB in $ns did not accept connections on $listen; last log lines:"
        tail -n 20 "$log" >&2
        ferretdb_stop "$pid"
        return 1
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        tb_err "FerretDB exited right after start (is $listen taken?); last log lines:"
        tail -n 20 "$log" >&2
        return 1
    fi
    tb_ok "FerretDB (pid $pid) accepts connections on $listen inside $ns"
}

ferretdb_stop() {
    local pids=("$@") pid i
    [ $# -gt 0 ] || pids=("${FERRETDB_PIDS[@]}")
    for pid in "${pids[@]}"; do
        [ -n "$pid" ] || continue
        if kill -TERM "$pid" 2>/dev/null; then
            for i in $(seq 1 100); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            if kill -0 "$pid" 2>/dev/null; then
                tb_err "FerretDB (pid $pid) ignored SIGTERM for 10 s; killing it"
                kill -KILL "$pid" 2>/dev/null || true
            fi
            wait "$pid" 2>/dev/null || true
        fi
        # drop it from the list
        for i in "${!FERRETDB_PIDS[@]}"; do
            [ "${FERRETDB_PIDS[$i]}" = "$pid" ] && unset 'FERRETDB_PIDS[i]'
        done
    done
    return 0
}
