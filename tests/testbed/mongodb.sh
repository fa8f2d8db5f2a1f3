# The demo MongoDB client (Node.js, driver mongodb 7.9.0) for the Airlock test bed.
# Sourced, not executed.
#
#   mongodb_client_install          `npm ci` of mongodb-client/ into $MONGODB_CLIENT_HOME (cached)
#   mongodb_client_run NETNS URL    runs mongodb-client/app.js inside NETNS against URL; its output
#                                   goes to stdout/stderr, its exit code is returned (0 = "OK 3")
#
# Only package.json and package-lock.json are copied to the cache folder; app.js runs from the work
# tree with NODE_PATH pointing at the cached node_modules, so edits to it need no reinstall.

# MONGODB_INSTALL_CACHED is for the caller:
# shellcheck disable=SC2034
[ -n "${_TESTBED_MONGODB_LOADED:-}" ] && return 0
_TESTBED_MONGODB_LOADED=1
# shellcheck source=netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

MONGODB_DRIVER_VERSION=7.9.0
MONGODB_CLIENT_SRC="$TESTBED_DIR/mongodb-client"
MONGODB_CLIENT_HOME="$AIRLOCK_CACHE/npm-mongodb-$MONGODB_DRIVER_VERSION"

_mongodb_lock_hash() { cat "$MONGODB_CLIENT_SRC/package.json" "$MONGODB_CLIENT_SRC/package-lock.json" | sha256sum | cut -c1-16; }

mongodb_client_install() {
    local want major minor
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then tb_err "Node.js and npm are needed"; return 1; fi
    IFS=. read -r major minor _ <<<"$(node --version | tr -d v)"
    if [ "$major" -lt 20 ] || { [ "$major" -eq 20 ] && [ "$minor" -lt 19 ]; }; then
        tb_err "mongodb $MONGODB_DRIVER_VERSION needs Node.js 20.19 or newer, found $(node --version)"
        return 1
    fi
    want="$(_mongodb_lock_hash)"
    if [ -f "$MONGODB_CLIENT_HOME/node_modules/mongodb/package.json" ] &&
        [ "$(cat "$MONGODB_CLIENT_HOME/.lock-hash" 2>/dev/null)" = "$want" ]; then
        MONGODB_INSTALL_CACHED=1
        return 0
    fi
    MONGODB_INSTALL_CACHED=0
    tb_log "npm ci (mongodb $MONGODB_DRIVER_VERSION) into $MONGODB_CLIENT_HOME"
    mkdir -p "$MONGODB_CLIENT_HOME" || return 1
    (
        exec 9>"$MONGODB_CLIENT_HOME/.flock"
        flock 9
        rm -f "$MONGODB_CLIENT_HOME/.lock-hash"
        cp "$MONGODB_CLIENT_SRC/package.json" "$MONGODB_CLIENT_SRC/package-lock.json" "$MONGODB_CLIENT_HOME/" &&
            npm ci --prefix "$MONGODB_CLIENT_HOME" --no-audit --no-fund --loglevel=error \
                --cache "$AIRLOCK_CACHE/npm-cache" >&2 &&
            echo "$want" >"$MONGODB_CLIENT_HOME/.lock-hash"
    ) || { tb_err "npm ci failed"; return 1; }
    local got
    got="$(node -p 'require(process.argv[1]).version' "$MONGODB_CLIENT_HOME/node_modules/mongodb/package.json")"
    [ "$got" = "$MONGODB_DRIVER_VERSION" ] || { tb_err "installed mongodb $got, expected $MONGODB_DRIVER_VERSION"; return 1; }
}

mongodb_client_run() {
    [ $# -eq 2 ] || { tb_err "usage: mongodb_client_run NETNS URL"; return 1; }
    [ -d "$MONGODB_CLIENT_HOME/node_modules/mongodb" ] || { tb_err "call mongodb_client_install first"; return 1; }
    ip netns exec "$1" env NODE_PATH="$MONGODB_CLIENT_HOME/node_modules" \
        node "$MONGODB_CLIENT_SRC/app.js" "$2" </dev/null
}
