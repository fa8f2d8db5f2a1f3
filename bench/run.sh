#!/usr/bin/env bash
# Airlock portal benchmark: airlock TCP portal vs raw loopback TCP vs `ssh -L`
# (aes128-gcm@openssh.com), all measured in one run on 127.0.0.1.
#
#   bash bench/run.sh                 # full run (iperf3 -t 5, 2000 round trips, 200 set-ups)
#   QUICK=1 bash bench/run.sh         # validation run (-t 1, 300 round trips, 50 set-ups)
#
# Knobs (environment): DURATION, RTT_COUNT, RTT_SIZE, SETUP_COUNT, PORT_BASE (default 15300,
# uses PORT_BASE..PORT_BASE+22), AIRLOCK (binary, default target/release/airlock),
# OUT (also write the markdown table to this file), KEEP_WORK=1 (keep the temp dir).
# The table goes to stdout, progress to stderr. See bench/README.md.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
AIRLOCK_SRC=${AIRLOCK:-$ROOT/target/release/airlock}
PY=${PYTHON:-python3}
QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
  DURATION=${DURATION:-1}; RTT_COUNT=${RTT_COUNT:-300}; SETUP_COUNT=${SETUP_COUNT:-50}
else
  DURATION=${DURATION:-5}; RTT_COUNT=${RTT_COUNT:-2000}; SETUP_COUNT=${SETUP_COUNT:-200}
fi
RTT_SIZE=${RTT_SIZE:-64}
PORT_BASE=${PORT_BASE:-15300}
IPERF_PORT=$((PORT_BASE + 1))     # iperf3 server
ECHO_PORT=$((PORT_BASE + 2))      # python echo server
AL_IPERF_PORT=$((PORT_BASE + 10)) # airlock inlet -> iperf3
AL_ECHO_PORT=$((PORT_BASE + 11))  # airlock inlet -> echo
SSHD_PORT=$((PORT_BASE + 20))     # throwaway sshd
SSH_IPERF_PORT=$((PORT_BASE + 21)) # ssh -L -> iperf3
SSH_ECHO_PORT=$((PORT_BASE + 22))  # ssh -L -> echo
ALL_PORTS=("$IPERF_PORT" "$ECHO_PORT" "$AL_IPERF_PORT" "$AL_ECHO_PORT" "$SSHD_PORT" "$SSH_IPERF_PORT" "$SSH_ECHO_PORT")

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- process bookkeeping
CHILD_PIDS=()     # background children of this script (killed + reaped in cleanup)
NODE_PIDS=()      # airlock node daemons (not our children)
SSHD_SESS_PIDS=() # sshd per-connection processes (children of our sshd)
MON_PID=""
WORK=""
AL=""

alive() { [[ -n $1 && -e /proc/$1 ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

# kill_pid PID [CMDLINE_SUBSTRING]: TERM, then KILL after 3 s; the substring guards against
# PID reuse for processes that are not our children.
kill_pid() {
  local pid=$1 want=${2:-} i
  alive "$pid" || return 0
  if [[ -n $want ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$want"; then
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 30; i++)); do alive "$pid" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? pid i
  set +e
  trap - EXIT INT TERM
  [[ -n $MON_PID ]] && kill_pid "$MON_PID"
  if [[ -n $AL && -x $AL && -n ${AIRLOCK_HOME:-} && -d $AIRLOCK_HOME ]]; then
    timeout 20 "$AL" node delete --all --yes >/dev/null 2>&1
  fi
  for pid in "${NODE_PIDS[@]}"; do kill_pid "$pid" "node run"; done
  # children in reverse start order (ssh client before sshd, servers last)
  for ((i = ${#CHILD_PIDS[@]} - 1; i >= 0; i--)); do kill_pid "${CHILD_PIDS[i]}"; done
  for pid in "${SSHD_SESS_PIDS[@]}"; do kill_pid "$pid" "sshd"; done
  for pid in "${CHILD_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  if [[ -n $WORK && -d $WORK ]]; then
    if [[ ${KEEP_WORK:-0} == 1 ]]; then log "kept work dir $WORK"; else rm -rf "$WORK"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_bg LOGFILE CMD...: start CMD in the background, remember its PID in LAST_PID
start_bg() {
  local logf=$1; shift
  "$@" </dev/null >"$logf" 2>&1 &
  LAST_PID=$!
  CHILD_PIDS+=("$LAST_PID")
}

wait_listen() { # PORT PID NAME
  local port=$1 pid=$2 name=$3 i
  for ((i = 0; i < 200; i++)); do
    "$PY" "$BENCH_DIR/procmon.py" wait-listen "$port" 0.1 2>/dev/null && return 0
    alive "$pid" || die "$name exited before listening on $port"
  done
  die "$name does not listen on port $port after 20 s"
}

descendants() { local c; for c in $(pgrep -P "$1" || true); do echo "$c"; descendants "$c"; done; }

# ---------------------------------------------------------------- prerequisites
need=()
command -v iperf3 >/dev/null || need+=(iperf3)
{ command -v ssh && command -v ssh-keygen; } >/dev/null || need+=(openssh-client)
[[ -x /usr/sbin/sshd ]] || need+=(openssh-server)
{ command -v pgrep && command -v getconf; } >/dev/null || need+=(procps)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  [[ $(id -u) == 0 ]] || die "missing ${need[*]}; install them (needs root)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >&2 ||
    { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >&2; } ||
    die "could not install ${need[*]}"
fi
command -v "$PY" >/dev/null || die "python3 not found"
command -v timeout >/dev/null || die "timeout (coreutils) not found"

for ((i = 0; i < 30; i++)); do [[ -x $AIRLOCK_SRC ]] && break; log "waiting for $AIRLOCK_SRC ..."; sleep 10; done
[[ -x $AIRLOCK_SRC ]] || die "airlock binary $AIRLOCK_SRC not found (build it with cargo build --release)"

"$PY" "$BENCH_DIR/procmon.py" port-free "${ALL_PORTS[@]}" || die "choose another PORT_BASE"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/airlock-bench.XXXXXX")
RES=$WORK/res; LOGS=$WORK/logs
mkdir -p "$RES" "$LOGS" "$WORK/ssh"
# Private copy of the binary: the node daemons and CLI calls are immune to concurrent rebuilds.
AL=$WORK/airlock
cp "$AIRLOCK_SRC" "$AL"
export AIRLOCK_HOME=$WORK/airlock-home
mkdir -p "$AIRLOCK_HOME"
CLK_TCK=$(getconf CLK_TCK)

"$PY" - "$RES/meta.json" "$AIRLOCK_SRC" "$AL" "$DURATION" "$RTT_COUNT" "$RTT_SIZE" "$SETUP_COUNT" "$QUICK" <<'EOF'
import json, os, sys, subprocess, time
out_file, src, al, duration, rtt_count, rtt_size, setup_count, quick = sys.argv[1:]
def first_line(*cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except Exception:
        return "?"
json.dump({
    "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    "ncpu": os.cpu_count(),
    "loadavg_start": " ".join(open("/proc/loadavg").read().split()[:3]),
    "airlock_bin": src,
    "airlock_version": first_line(al, "--version"),
    "ssh_version": first_line("ssh", "-V"),
    "iperf_version": first_line("iperf3", "--version"),
    "duration": duration, "rtt_count": rtt_count, "rtt_size": rtt_size,
    "setup_count": setup_count, "quick": quick,
}, open(out_file, "w"))
EOF
log "work dir $WORK; iperf3 -t $DURATION; $RTT_COUNT round trips; $SETUP_COUNT set-ups; load $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- servers
start_iperf_server() {
  start_bg "$LOGS/iperf3-server.log" iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT"
  IPERF_PID=$LAST_PID
  wait_listen "$IPERF_PORT" "$IPERF_PID" "iperf3 server"
}
start_iperf_server
start_bg "$LOGS/echo.log" "$PY" "$BENCH_DIR/latency.py" serve --port "$ECHO_PORT"
wait_listen "$ECHO_PORT" "$LAST_PID" "echo server"

# ---------------------------------------------------------------- ssh -L baseline
log "starting sshd on 127.0.0.1:$SSHD_PORT and ssh -L"
S=$WORK/ssh
ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$S/host_key"
ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$S/client_key"
cp "$S/client_key.pub" "$S/authorized_keys"
cat >"$S/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $SSHD_PORT
HostKey $S/host_key
PidFile $S/sshd.pid
AuthorizedKeysFile $S/authorized_keys
StrictModes no
UsePAM no
PermitRootLogin yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding yes
X11Forwarding no
PermitTTY no
PrintMotd no
UseDNS no
EOF
mkdir -p /run/sshd
start_bg "$LOGS/sshd.log" /usr/sbin/sshd -D -e -f "$S/sshd_config"
SSHD_PID=$LAST_PID
wait_listen "$SSHD_PORT" "$SSHD_PID" "sshd"
# Not `ssh -f`: kept in the background by this script so that $! is the forwarding process.
start_bg "$LOGS/ssh.log" ssh -N -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes \
  -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
  -o ExitOnForwardFailure=yes -i "$S/client_key" -c aes128-gcm@openssh.com -p "$SSHD_PORT" \
  -L "127.0.0.1:$SSH_IPERF_PORT:127.0.0.1:$IPERF_PORT" \
  -L "127.0.0.1:$SSH_ECHO_PORT:127.0.0.1:$ECHO_PORT" \
  "$(id -un)@127.0.0.1"
SSH_PID=$LAST_PID
wait_listen "$SSH_IPERF_PORT" "$SSH_PID" "ssh -L"
wait_listen "$SSH_ECHO_PORT" "$SSH_PID" "ssh -L"
mapfile -t SSHD_SESS_PIDS < <(descendants "$SSHD_PID")
((${#SSHD_SESS_PIDS[@]})) || die "no sshd session process found under sshd pid $SSHD_PID"
SSH_SIDE_PIDS=("$SSH_PID" "${SSHD_SESS_PIDS[@]}")
log "ssh client pid $SSH_PID, sshd $SSHD_PID, sshd session pids ${SSHD_SESS_PIDS[*]}"

# ---------------------------------------------------------------- airlock portal
log "creating airlock nodes and portals"
node_pid() {
  timeout 20 "$AL" node show "$1" --output json |
    "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d.get("pid") or d["details"]["pid"])'
}
for n in n1 n2; do
  timeout 30 "$AL" node create "$n" >/dev/null 2>>"$LOGS/airlock-cli.log" ||
    die "airlock node create $n failed: $(tail -3 "$LOGS/airlock-cli.log")"
  NODE_PIDS+=("$(node_pid "$n")")
done
airlock_cli() { timeout 30 "$AL" "$@" >>"$LOGS/airlock-cli.log" 2>&1 || die "airlock $* failed: $(tail -3 "$LOGS/airlock-cli.log")"; }
airlock_cli tcp-outlet create --at n1 --from iperf --to "127.0.0.1:$IPERF_PORT"
airlock_cli tcp-outlet create --at n1 --from echo-svc --to "127.0.0.1:$ECHO_PORT"
airlock_cli tcp-inlet create --at n2 --from "127.0.0.1:$AL_IPERF_PORT" --to /node/n1/secure/api/service/iperf
airlock_cli tcp-inlet create --at n2 --from "127.0.0.1:$AL_ECHO_PORT" --to /node/n1/secure/api/service/echo-svc
wait_listen "$AL_IPERF_PORT" "${NODE_PIDS[1]}" "airlock inlet (iperf)"
wait_listen "$AL_ECHO_PORT" "${NODE_PIDS[1]}" "airlock inlet (echo)"
log "airlock node pids ${NODE_PIDS[*]}"

printf '{"airlock": [%s], "ssh": [%s]}\n' "$(IFS=,; echo "${NODE_PIDS[*]}")" \
  "$(IFS=,; echo "${SSH_SIDE_PIDS[*]}")" >"$RES/pids.json"
sleep 1
"$PY" "$BENCH_DIR/procmon.py" rss "${NODE_PIDS[@]}" "${SSH_SIDE_PIDS[@]}" >"$RES/rss-idle.json"
start_bg "$LOGS/procmon.log" "$PY" "$BENCH_DIR/procmon.py" peak --out "$RES/rss-peak.json" \
  "${NODE_PIDS[@]}" "${SSH_SIDE_PIDS[@]}"
MON_PID=$LAST_PID

port_of() { # KIND MODE
  case "$1-$2" in
    iperf-raw) echo "$IPERF_PORT" ;; iperf-ssh) echo "$SSH_IPERF_PORT" ;; iperf-airlock) echo "$AL_IPERF_PORT" ;;
    echo-raw) echo "$ECHO_PORT" ;; echo-ssh) echo "$SSH_ECHO_PORT" ;; echo-airlock) echo "$AL_ECHO_PORT" ;;
  esac
}
check_nodes() { local p; for p in "${NODE_PIDS[@]}"; do alive "$p" || log "WARNING: airlock node pid $p is gone"; done; }

# ---------------------------------------------------------------- throughput + CPU
run_iperf() { # MODE STREAMS
  local mode=$1 p=$2 out="$RES/iperf-$1-$2.json" cpu_pids=() t0 t1
  case $mode in airlock) cpu_pids=("${NODE_PIDS[@]}") ;; ssh) cpu_pids=("${SSH_SIDE_PIDS[@]}") ;; esac
  log "iperf3 $mode, $p stream(s), ${DURATION}s"
  t0=""
  if ((${#cpu_pids[@]})); then t0=$("$PY" "$BENCH_DIR/procmon.py" ticks "${cpu_pids[@]}" 2>/dev/null) || t0=""; fi
  if ! timeout $((DURATION + 60)) iperf3 -c 127.0.0.1 -p "$(port_of iperf "$mode")" -t "$DURATION" \
      -P "$p" --connect-timeout 10000 --json >"$out" 2>"$LOGS/iperf-$mode-$p.err" ||
      grep -q '"error"' "$out"; then
    log "iperf3 $mode -P $p failed: $(grep -o '"error":.*' "$out" | head -1) $(tail -2 "$LOGS/iperf-$mode-$p.err")"
    kill_pid "$IPERF_PID"; wait "$IPERF_PID" 2>/dev/null || true; sleep 1
    start_iperf_server
    return 0
  fi
  if [[ -n $t0 ]] && t1=$("$PY" "$BENCH_DIR/procmon.py" ticks "${cpu_pids[@]}" 2>/dev/null); then
    echo "$t0 $t1 $CLK_TCK" >"$RES/cpu-$mode-$p.txt"
  fi
  sleep 1
}
for p in 1 8 64; do
  for mode in raw ssh airlock; do run_iperf "$mode" "$p"; done
  check_nodes
done

# ---------------------------------------------------------------- latency
for mode in raw ssh airlock; do
  log "round trips ($RTT_COUNT x $RTT_SIZE B) via $mode"
  timeout 300 "$PY" "$BENCH_DIR/latency.py" rtt --port "$(port_of echo "$mode")" --count "$RTT_COUNT" \
    --size "$RTT_SIZE" >"$RES/rtt-$mode.json" 2>>"$LOGS/latency.err" || log "rtt via $mode failed: $(tail -1 "$LOGS/latency.err")"
done
for mode in raw ssh airlock; do
  log "connection set-up ($SETUP_COUNT new connections) via $mode"
  timeout 300 "$PY" "$BENCH_DIR/latency.py" setup --port "$(port_of echo "$mode")" --count "$SETUP_COUNT" \
    >"$RES/setup-$mode.json" 2>>"$LOGS/latency.err" || log "set-up via $mode failed: $(tail -1 "$LOGS/latency.err")"
done
check_nodes

# ---------------------------------------------------------------- memory after load, report
kill_pid "$MON_PID"; wait "$MON_PID" 2>/dev/null || true; MON_PID=""
sleep 2
"$PY" "$BENCH_DIR/procmon.py" rss "${NODE_PIDS[@]}" "${SSH_SIDE_PIDS[@]}" >"$RES/rss-after.json"

# report.py exits 3 when a measurement failed (the table then shows "error" cells).
report_rc=0
"$PY" "$BENCH_DIR/report.py" "$RES" >"$WORK/table.md" || report_rc=$?
if [[ -n ${OUT:-} ]]; then cp "$WORK/table.md" "$OUT"; fi
cat "$WORK/table.md"
exit "$report_rc"
