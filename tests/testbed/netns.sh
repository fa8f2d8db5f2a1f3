# Network namespaces for the Airlock test bed. Sourced, not executed; needs root and iproute2.
#
#   testbed_up               three namespaces: PROJECT, BANK, ANALYSIS; each party has a veth link
#                            to the project namespace only (no forwarding there, no default routes)
#   testbed_down             idempotent teardown: processes left in the namespaces, the namespaces,
#                            and the host's "unreachable 10.231.0.0/16" guard route
#   testbed_assert_isolated  proves analysis -/-> bank, bank -> project, analysis -> project
#   testbed_project_name NAME   NAME resolves to the project host in every namespace
#   pod_up NAME / pod_down NAME
#                            one namespace "${TESTBED_PREFIX}NAME" with loopback only (containers of a
#                            pod share localhost); pod_ns NAME prints the namespace name
#   testbed_wait_port NETNS HOST PORT [SECONDS]    from inside NETNS, wait until HOST:PORT accepts
#   testbed_tcp_connect NETNS HOST PORT [SECONDS]  one connection attempt from inside NETNS
#
# Network rule: servers bind to loopback or to namespace addresses; clients run inside a namespace
# (`ip netns exec`); the host namespace never connects to a namespace address. The host gets
# `unreachable 10.231.0.0/16` first, so a mistake fails with "No route to host".

[ -n "${_TESTBED_NETNS_LOADED:-}" ] && return 0
_TESTBED_NETNS_LOADED=1

TESTBED_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
AIRLOCK_CACHE="${AIRLOCK_CACHE:-$HOME/.cache/airlock}"
TESTBED_PREFIX="${TESTBED_PREFIX:-al_}"
TESTBED_NET="10.231.0.0/16"
# Namespaces created by any test bed user are registered here, so the shared guard route is
# removed only when the last of them is gone.
TESTBED_STATE="${TESTBED_STATE:-/run/airlock-testbed}"

export NS_PROJECT="${TESTBED_PREFIX}project"
export NS_BANK="${TESTBED_PREFIX}bank"
export NS_ANALYSIS="${TESTBED_PREFIX}analysis"
# bank link 10.231.1.0/30, analysis link 10.231.2.0/30
export PROJECT_IP_FOR_BANK=10.231.1.1
export BANK_IP=10.231.1.2
export PROJECT_IP_FOR_ANALYSIS=10.231.2.1
export ANALYSIS_IP=10.231.2.2
TESTBED_PROBE_PORT="${TESTBED_PROBE_PORT:-47001}"

tb_log() { printf '\033[1m[%s] %s\033[0m\n' "$(date +%H:%M:%S)" "$*" >&2; }
tb_ok() { printf '  \033[32mok\033[0m %s\n' "$*" >&2; }
tb_err() { printf '  \033[31mFAIL\033[0m %s\n' "$*" >&2; }

_tb_need_root() {
    if [ "$(id -u)" != 0 ]; then tb_err "the test bed needs root (network namespaces)"; return 1; fi
    command -v ip >/dev/null || { tb_err "iproute2 (ip) is missing"; return 1; }
}

_tb_ns_exists() { [ -e "/run/netns/$1" ]; }

# Guard route in the host namespace, plus registration of namespace $1 as a user of it.
_tb_guard_acquire() {
    ip route replace unreachable "$TESTBED_NET" || return 1
    mkdir -p "$TESTBED_STATE/ns" && : >"$TESTBED_STATE/ns/$1"
}

# Unregisters namespace $1; removes the guard route once no registered namespace exists.
_tb_guard_release() {
    local f
    rm -f "$TESTBED_STATE/ns/$1"
    if [ -d "$TESTBED_STATE/ns" ]; then
        for f in "$TESTBED_STATE/ns"/*; do
            [ -e "$f" ] || continue
            if _tb_ns_exists "$(basename "$f")"; then return 0; fi
            rm -f "$f" # stale entry of a namespace that is gone
        done
    fi
    ip route del unreachable "$TESTBED_NET" 2>/dev/null || true
    rmdir "$TESTBED_STATE/ns" "$TESTBED_STATE" 2>/dev/null || true
}

# Creates namespace $1 with loopback up and forwarding off.
_tb_ns_create() {
    local ns=$1
    _tb_guard_acquire "$ns" || return 1
    if _tb_ns_exists "$ns"; then tb_err "namespace $ns already exists (run testbed_down / pod_down first)"; return 1; fi
    ip netns add "$ns" || return 1
    ip -n "$ns" link set lo up || return 1
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=0 || return 1
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true
}

# Ends the processes still inside namespace $1 (all of them were started by the test bed user),
# then deletes it. Idempotent.
_tb_ns_delete() {
    local ns=$1 pids pid
    if _tb_ns_exists "$ns"; then
        pids="$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
        if [ -n "${pids// /}" ]; then
            tb_log "ending processes left in $ns: $pids"
            for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
            for _ in $(seq 1 50); do
                pids="$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
                [ -z "${pids// /}" ] && break
                sleep 0.1
            done
            for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
        fi
        ip netns delete "$ns" 2>/dev/null || true
    fi
    _tb_guard_release "$ns"
}

# Veth pair created directly inside the two namespaces (no name ever appears in the host namespace).
# _tb_link NS_A IF_A IP_A NS_B IF_B IP_B   (addresses are /30)
_tb_link() {
    ip link add "$2" netns "$1" type veth peer name "$5" netns "$4" || return 1
    ip -n "$1" addr add "$3/30" dev "$2" || return 1
    ip -n "$4" addr add "$6/30" dev "$5" || return 1
    ip -n "$1" link set "$2" up || return 1
    ip -n "$4" link set "$5" up || return 1
}

testbed_up() {
    _tb_need_root || return 1
    tb_log "test bed up: $NS_PROJECT, $NS_BANK, $NS_ANALYSIS"
    ip route replace unreachable "$TESTBED_NET" || return 1 # first, before any namespace exists
    _tb_ns_create "$NS_PROJECT" || return 1
    _tb_ns_create "$NS_BANK" || return 1
    _tb_ns_create "$NS_ANALYSIS" || return 1
    _tb_link "$NS_PROJECT" to_bank "$PROJECT_IP_FOR_BANK" "$NS_BANK" to_project "$BANK_IP" || return 1
    _tb_link "$NS_PROJECT" to_analysis "$PROJECT_IP_FOR_ANALYSIS" "$NS_ANALYSIS" to_project "$ANALYSIS_IP" || return 1
    # Belt and braces: even a forwarding mistake in the project namespace drops party-to-party traffic.
    ip netns exec "$NS_PROJECT" sysctl -qw net.ipv4.conf.all.forwarding=0 || return 1
    local ns
    for ns in "$NS_BANK" "$NS_ANALYSIS"; do
        if ip -n "$ns" route show default | grep -q .; then tb_err "$ns has a default route"; return 1; fi
    done
    if [ "$(ip netns exec "$NS_PROJECT" sysctl -n net.ipv4.ip_forward)" != 0 ]; then
        tb_err "forwarding is on in $NS_PROJECT"; return 1
    fi
}

testbed_down() {
    local ns
    for ns in "$NS_ANALYSIS" "$NS_BANK" "$NS_PROJECT"; do _tb_ns_delete "$ns"; rm -rf "/etc/netns/$ns"; done
}

# testbed_project_name NAME: inside every namespace, NAME resolves to the project host's address
# on that namespace's own link (127.0.0.1 in the project namespace). Removed by testbed_down.
testbed_project_name() {
    [ $# -eq 1 ] || { tb_err "usage: testbed_project_name NAME"; return 1; }
    local pair ns
    for pair in "$NS_PROJECT:127.0.0.1" "$NS_BANK:$PROJECT_IP_FOR_BANK" "$NS_ANALYSIS:$PROJECT_IP_FOR_ANALYSIS"; do
        ns=${pair%%:*}
        mkdir -p "/etc/netns/$ns" || return 1
        printf '127.0.0.1 localhost\n%s %s\n' "${pair#*:}" "$1" >"/etc/netns/$ns/hosts" || return 1
    done
}

# pod_ns NAME: the namespace name of a pod.
pod_ns() { printf '%s%s\n' "$TESTBED_PREFIX" "$1"; }

pod_up() {
    [ $# -eq 1 ] || { tb_err "usage: pod_up NAME"; return 1; }
    _tb_need_root || return 1
    ip route replace unreachable "$TESTBED_NET" || return 1
    _tb_ns_create "$(pod_ns "$1")"
}

pod_down() {
    [ $# -eq 1 ] || { tb_err "usage: pod_down NAME"; return 1; }
    _tb_ns_delete "$(pod_ns "$1")"
}

testbed_tcp_connect() { # NETNS HOST PORT [SECONDS]
    ip netns exec "$1" python3 "$TESTBED_DIR/tcp_probe.py" connect "$2" "$3" "${4:-2}"
}

testbed_wait_port() { # NETNS HOST PORT [SECONDS]
    ip netns exec "$1" python3 "$TESTBED_DIR/tcp_probe.py" wait "$2" "$3" "${4:-20}"
}

# Starts a probe listener inside NETNS on ADDR:PORT; sets _TB_PROBE_PID once it listens.
# (Not run in $(...): the listener stays a child of this shell, so stopping it reaps it at once.)
_tb_probe_listen() {
    local ns=$1 addr=$2 port=$3 ready pid
    ready="$(mktemp /tmp/testbed-probe.XXXXXX)" && rm -f "$ready"
    TCP_PROBE_MAX_SECONDS=60 ip netns exec "$ns" python3 "$TESTBED_DIR/tcp_probe.py" listen "$addr" "$port" "$ready" \
        </dev/null >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        if [ -s "$ready" ]; then rm -f "$ready"; _TB_PROBE_PID=$pid; return 0; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    rm -f "$ready"
    kill -TERM "$pid" 2>/dev/null
    tb_err "probe listener on $addr:$port in $ns did not start"
    return 1
}

# Stops PID (TERM, then KILL after 5 s) and waits until it is gone; works for non-children too.
_tb_stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Proves the isolation of the two parties with real TCP connections.
testbed_assert_isolated() {
    local port=$TESTBED_PROBE_PORT bank_pid project_pid rc=0 err
    tb_log "asserting isolation (probe port $port)"
    _tb_probe_listen "$NS_BANK" "$BANK_IP" "$port" || return 1
    bank_pid=$_TB_PROBE_PID
    _tb_probe_listen "$NS_PROJECT" 0.0.0.0 "$port" || { _tb_stop_pid "$bank_pid"; return 1; }
    project_pid=$_TB_PROBE_PID

    # control: the bank listener answers (so a failure below is isolation, not a missing listener)
    if testbed_tcp_connect "$NS_BANK" "$BANK_IP" "$port" 2>/dev/null; then
        tb_ok "bank listener on $BANK_IP:$port answers inside $NS_BANK"
    else tb_err "bank listener on $BANK_IP:$port does not answer inside $NS_BANK"; rc=1; fi

    if err="$(testbed_tcp_connect "$NS_ANALYSIS" "$BANK_IP" "$port" 2>&1)"; then
        tb_err "analysis reached the bank directly ($BANK_IP:$port)"; rc=1
    else tb_ok "analysis -> bank $BANK_IP:$port fails (${err#connect })"; fi

    if err="$(testbed_tcp_connect "$NS_ANALYSIS" "$PROJECT_IP_FOR_BANK" "$port" 2>&1)"; then
        tb_err "analysis reached the project's bank-side address $PROJECT_IP_FOR_BANK"; rc=1
    else tb_ok "analysis -> project's bank-side $PROJECT_IP_FOR_BANK:$port fails (${err#connect })"; fi

    if err="$(testbed_tcp_connect "$NS_BANK" "$ANALYSIS_IP" "$port" 2>&1)"; then
        tb_err "bank reached the analysis namespace ($ANALYSIS_IP:$port)"; rc=1
    else tb_ok "bank -> analysis $ANALYSIS_IP:$port fails (${err#connect })"; fi

    if err="$(testbed_tcp_connect "$NS_BANK" "$PROJECT_IP_FOR_BANK" "$port" 2>&1)"; then
        tb_ok "bank -> project $PROJECT_IP_FOR_BANK:$port succeeds"
    else tb_err "bank cannot reach the project: $err"; rc=1; fi

    if err="$(testbed_tcp_connect "$NS_ANALYSIS" "$PROJECT_IP_FOR_ANALYSIS" "$port" 2>&1)"; then
        tb_ok "analysis -> project $PROJECT_IP_FOR_ANALYSIS:$port succeeds"
    else tb_err "analysis cannot reach the project: $err"; rc=1; fi

    _tb_stop_pid "$bank_pid"
    _tb_stop_pid "$project_pid"
    return $rc
}
