#!/usr/bin/env bash
# Scenario (seed 004): the Kubernetes pod topology of deploy/kubernetes/ on the test bed.
#
#   pd_bank     = the Bank Corp pod: FerretDB on the pod's localhost only + the airlock sidecar
#                 (`node create CONFIG --foreground`, config = the ConfigMap of
#                 deploy/kubernetes/bank-corp.yaml, ticket from a mounted Secret file)
#   pd_analysis = the Analysis Corp pod: the sidecar (inlet on the pod's localhost) + the app
#   pd_project  = the project host, the only thing either pod reaches
#
# Asserts: the sidecars become ready (/readyz) with the manifests' own configuration; the app
# reaches the database only through the portal; /metrics shows the inlet up and bytes moved;
# SIGTERM stops a sidecar gracefully (exit 0, JSON log lines); the sidecar restarts on its kept
# state (an emptyDir survives container restarts) without re-enrolling its one-use ticket.
set -euo pipefail
export TESTBED_PREFIX=pd_
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/testbed/netns.sh"
source "$ROOT/tests/testbed/ferretdb.sh"
source "$ROOT/tests/testbed/mongodb.sh"
[ -x "$AIRLOCK" ] || fail "build first: cargo build --release"
[ "$(id -u)" = 0 ] || fail "the scenario needs root (network namespaces)"
MANIFESTS="${PODS_MANIFESTS:-$ROOT/deploy/kubernetes}"
# A Python with PyYAML (the deploy tools' venv has one when the system Python does not).
PY=python3
if ! python3 -c 'import yaml' 2>/dev/null; then
    PY="$(dirname "$(bash "$ROOT/tests/deploy/install-tools.sh")")/venv/bin/python"
fi

WORK="$(mktemp -d /tmp/airlock-pods.XXXXXX)"
[ -n "${KEEP_WORK:-}" ] || on_exit "rm -rf '$WORK'"
on_exit "testbed_down"
on_exit "ferretdb_stop"

log "installing the test bed parts (cached in $AIRLOCK_CACHE)"
ferretdb_install >/dev/null
mongodb_client_install >/dev/null

# `sidecar_config KIND` prints the airlock.yaml of the ConfigMap in deploy/kubernetes/ whose
# configuration has tcp-outlets (bank) or tcp-inlets (analysis).
sidecar_config() {
    "$PY" - "$MANIFESTS" "$1" <<'EOF'
import glob, sys, yaml
folder, want = sys.argv[1], sys.argv[2]
for path in sorted(glob.glob(folder + "/*.yaml")):
    for doc in yaml.safe_load_all(open(path)):
        if not doc or doc.get("kind") != "ConfigMap":
            continue
        for key, text in (doc.get("data") or {}).items():
            if key.endswith((".yaml", ".yml")) and want in yaml.safe_load(text):
                print(text)
                sys.exit(0)
sys.exit("no ConfigMap with " + want + " in " + folder)
EOF
}
# The mount path of the ticket Secret in the manifests (`ticket: /path`), if it is a path.
BANK_CONFIG="$WORK/bank.yaml"
ANALYSIS_CONFIG="$WORK/analysis.yaml"
sidecar_config tcp-outlets >"$BANK_CONFIG" || fail "bank ConfigMap"
sidecar_config tcp-inlets >"$ANALYSIS_CONFIG" || fail "analysis ConfigMap"
pass "sidecar configurations taken from the manifests' ConfigMaps"

log "pods as network namespaces; each reaches only the project host"
testbed_up
testbed_assert_isolated >/dev/null 2>&1 || fail "namespaces are not isolated"
testbed_project_name project.airlock.test || fail "hosts files for the namespaces"
pass "bank and analysis pods reach only the project host"

ADMIN_HOME="$WORK/admin"
admin() { ip netns exec "$NS_PROJECT" env AIRLOCK_HOME="$ADMIN_HOME" "$AIRLOCK" "$@"; }
on_exit "ip netns exec '$NS_PROJECT' env AIRLOCK_HOME='$ADMIN_HOME' '$AIRLOCK' node delete --all --yes"
admin project create --listen 0.0.0.0:4000 --public-address project.airlock.test:4000 >/dev/null 2>&1 \
    || fail "project create"
# Secrets: one file per pod, readable by the sidecar only (as a Secret volume would be).
for party in bank analysis; do mkdir -p "$WORK/secrets/$party"; chmod 700 "$WORK/secrets/$party"; done
admin project ticket --usage-count 1 --expires-in 10m --attribute mongodb-outlet=true --relay mongodb \
    >"$WORK/secrets/bank/ticket" || fail "bank ticket"
admin project ticket --usage-count 1 --expires-in 10m --attribute mongodb-inlet=true \
    >"$WORK/secrets/analysis/ticket" || fail "analysis ticket"
chmod 400 "$WORK/secrets/"*/ticket
pass "project running; one-use tickets written as Secret files"

# `start_sidecar PARTY NS CONFIG` runs `airlock node create CONFIG --foreground` inside the pod
# the way the container does: Secret mounted at the path the manifest names (its own mount
# namespace), ENROLLMENT_TICKET read from that file, state in an emptyDir, JSON logs on stdout.
# Sets SIDECAR_PID.
declare -A SIDECAR_PIDS=()
# Signals PID only if it is still an airlock process (PIDs are reused once a sidecar exited).
stop_airlock_pid() {
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q airlock && kill -TERM "$1"
}
start_sidecar() {
    local party=$1 ns=$2 config=$3 mount
    mount=$("$PY" -c 'import sys,yaml; t=yaml.safe_load(open(sys.argv[1])).get("ticket",""); print(t.rsplit("/",1)[0] if t.startswith("/") else "")' "$config")
    mkdir -p "$WORK/state/$party"
    ip netns exec "$ns" unshare -m sh -c '
        set -e
        if [ -n "$1" ]; then mkdir -p "$1" && mount --bind "$2" "$1"; fi
        ENROLLMENT_TICKET=$(cat "$2/ticket") AIRLOCK_HOME="$3" \
            exec "$4" node create "$5" --foreground --log-format json --metrics 127.0.0.1:9464 --drain-timeout 5s
    ' sidecar "$mount" "$WORK/secrets/$party" "$WORK/state/$party" "$AIRLOCK" "$config" \
        >>"$WORK/$party.log" 2>>"$WORK/$party.err" </dev/null &
    SIDECAR_PID=$!
    SIDECAR_PIDS[$party]=$SIDECAR_PID
    on_exit "stop_airlock_pid $SIDECAR_PID"
}
# `wait_ready NS` polls the pod's /readyz (as a readiness probe does) for up to 30 s.
wait_ready() {
    local i
    for i in $(seq 1 60); do
        if ip netns exec "$1" curl -sf -o /dev/null http://127.0.0.1:9464/readyz; then return 0; fi
        sleep 0.5
    done
    return 1
}

log "bank pod: database on the pod's localhost + the sidecar"
ferretdb_start "$NS_BANK" 127.0.0.1:27017 "$WORK/ferretdb" >/dev/null
start_sidecar bank "$NS_BANK" "$BANK_CONFIG"
wait_ready "$NS_BANK" || fail "bank sidecar never ready: $(tail -3 "$WORK/bank.err") $(tail -3 "$WORK/bank.log")"
pass "bank sidecar ready (/readyz): enrolled from the Secret, relay registered, outlet up"

log "analysis pod: the sidecar + the app"
start_sidecar analysis "$NS_ANALYSIS" "$ANALYSIS_CONFIG"
wait_ready "$NS_ANALYSIS" || fail "analysis sidecar never ready: $(tail -3 "$WORK/analysis.err")"
if testbed_tcp_connect "$NS_ANALYSIS" "$BANK_IP" 27017 2 2>/dev/null; then fail "the analysis pod reached the database directly"; fi
if ip netns exec "$NS_BANK" python3 "$ROOT/tests/testbed/tcp_probe.py" connect "$BANK_IP" 27017 1 2>/dev/null; then
    fail "the database listens beyond the bank pod's localhost"
fi
out=$(mongodb_client_run "$NS_ANALYSIS" mongodb://127.0.0.1:17017/) || fail "app through the portal: $out"
grep -q '^OK 3$' <<<"$out" || fail "app output: $out"
pass "the app inserted and read 3 documents through localhost:17017 (database on the bank pod's localhost only)"

metrics=$(ip netns exec "$NS_ANALYSIS" curl -sf http://127.0.0.1:9464/metrics) || fail "no /metrics"
grep -Eq '^airlock_inlet_up\{inlet="[^"]+"\} 1$' <<<"$metrics" || fail "inlet not up in /metrics: $metrics"
bytes=$(awk '/^airlock_portal_bytes_total\{.*kind="inlet",direction="out"\}/ {s += $2} END {print s+0}' <<<"$metrics")
[ "$bytes" -gt 0 ] || fail "no bytes counted in /metrics"
grep -q '^airlock_credential_expiry_timestamp_seconds{' <<<"$metrics" || fail "no credential expiry in /metrics"
pass "/metrics: inlet up, $bytes bytes sent, credential expiry exported"

log "SIGTERM: the sidecar drains (an open client connection finishes) and exits cleanly"
# A client holds one connection through the inlet until the script releases it (a FIFO).
mkfifo "$WORK/release"
ip netns exec "$NS_ANALYSIS" python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", 17017)); print("held", flush=True)
open(sys.argv[1]).read(); s.close()' "$WORK/release" >"$WORK/holder.out" &
holder=$!
release_holder() { timeout 5 sh -c "echo >'$WORK/release'" || true; }
on_exit "release_holder"
open_conns() {
    ip netns exec "$NS_ANALYSIS" curl -sf http://127.0.0.1:9464/metrics \
        | awk '/^airlock_inlet_connections\{/ {s += $2} END {print s+0}'
}
for _ in $(seq 1 50); do [ "$(open_conns)" -ge 1 ] && break; sleep 0.1; done
[ "$(open_conns)" -ge 1 ] || fail "the held client connection never showed in /metrics"
pid=${SIDECAR_PIDS[analysis]}
t0=$(date +%s.%N)
kill -TERM "$pid"
# The inlet stops accepting: await it (bounded) rather than sleeping.
refusing=""
for _ in $(seq 1 50); do
    if ! testbed_tcp_connect "$NS_ANALYSIS" 127.0.0.1 17017 1 2>/dev/null; then refusing=yes; break; fi
    sleep 0.1
done
[ -n "$refusing" ] || fail "the inlet kept accepting new connections after SIGTERM"
# While the connection is held the sidecar must not exit (bounded negative check: 1 s).
if timeout 1 tail --pid="$pid" -f /dev/null; then
    fail "the sidecar exited while a client connection was still open: $(tail -3 "$WORK/analysis.err")"
fi
released=$(date +%s.%N)
release_holder
timeout 4 tail --pid="$pid" -f /dev/null || fail "the sidecar did not exit within 4 s of the held connection ending"
rc=0; wait "$pid" || rc=$?
took=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.2f}')")
after=$(python3 -c "print(f'{$(date +%s.%N) - $released:.2f}')")
timeout 5 tail --pid="$holder" -f /dev/null || fail "the holder did not end"
[ "$rc" = 0 ] || fail "the sidecar exited with $rc after SIGTERM: $(tail -3 "$WORK/analysis.err")"
if grep -q "grace period over" "$WORK/analysis.log"; then fail "the drain timed out instead of ending with the connection"; fi
python3 - "$WORK/analysis.log" <<'EOF' || fail "the sidecar's stdout is not JSON lines"
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
msgs = [json.loads(l)["fields"]["message"] for l in lines]
assert any("SIGTERM" in m for m in msgs), msgs[-5:]
EOF
pass "new connections refused while draining; exit 0 ${after} s after the held connection ended (${took} s after SIGTERM); JSON logs"

log "container restart on the kept emptyDir: no second enrollment needed"
start_sidecar analysis "$NS_ANALYSIS" "$ANALYSIS_CONFIG"
wait_ready "$NS_ANALYSIS" || fail "restarted sidecar never ready: $(tail -3 "$WORK/analysis.err")"
out=$(mongodb_client_run "$NS_ANALYSIS" mongodb://127.0.0.1:17017/) || fail "app after the restart: $out"
grep -q '^OK 3$' <<<"$out" || fail "app output after restart: $out"
pass "the restarted sidecar serves the app again (its one-use ticket was not needed twice)"
log "pods: all $STEP checks passed"
