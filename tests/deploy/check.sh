#!/usr/bin/env bash
# Offline checks of deploy/ (image recipes, Kubernetes manifests, Helm chart, systemd unit).
# Starts with tests/deploy/install-tools.sh, which needs the package registries only the first
# time; after that nothing here uses the network.
#
#   bash tests/deploy/check.sh
#   AIRLOCK_DEPLOY_CONTAINERS=1 AIRLOCK_STATIC_BIN=target/x86_64-unknown-linux-gnu/release/airlock \
#     bash tests/deploy/check.sh
#
# With AIRLOCK_STATIC_BIN (a static binary) and podman or buildah installed (which
# AIRLOCK_DEPLOY_CONTAINERS=1 makes install-tools.sh do, from Debian), it also builds the image from
# deploy/Containerfile.prebuilt and runs it; when the binary has `--metrics`, it runs a node in
# the image the way the pod does and probes it. AIRLOCK_IMAGE_ENGINE=buildah uses buildah even
# where podman is installed (build and --version only).
#
# Prints `ok N ...` / `FAIL ...` per check, ends with `N passed, N failed, N skipped`, and exits
# non-zero if anything failed. With CI=true a skip counts as a failure. Warm: about 10 s (2-3 s
# more with the image).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/lib/common.sh
. tests/lib/common.sh

KUBE_VERSIONS=(1.31 1.37)   # kubernetes-validate schemas (the wheel ships 1.25 ... 1.37)
HELM_KUBE=1.31.0            # what helm believes the cluster is (the build's default is not used)
CHART=deploy/helm/airlock
FAILED=0
SKIPPED=0

bad() {
    FAILED=$((FAILED + 1))
    printf '  \033[31mFAIL\033[0m %s\n' "$1" >&2
    if [ -n "${2:-}" ] && [ -s "$2" ]; then sed -n '1,40s/^/       /p' "$2" >&2; fi
}
# A skip is a failure in CI (CI=true): there everything must be installed and run.
skip() {
    if [ "${CI:-}" = true ]; then bad "not run in CI: $*"; return; fi
    SKIPPED=$((SKIPPED + 1))
    printf '  skip %s\n' "$*" >&2
}
# check "what" CMD...: CMD must succeed.
check() {
    local what=$1
    shift
    if "$@" >"$WORK/out" 2>&1; then pass "$what"; else bad "$what" "$WORK/out"; fi
}
# refuse "what" PATTERN CMD...: CMD must fail, and say PATTERN (so that it fails for the reason
# the check is about, not another one).
refuse() {
    local what=$1 pattern=$2
    shift 2
    if "$@" >"$WORK/out" 2>&1; then
        bad "$what (was accepted)" "$WORK/out"
    elif ! grep -Eq -- "$pattern" "$WORK/out"; then
        bad "$what (failed, but without /$pattern/)" "$WORK/out"
    else
        pass "$what"
    fi
}

WORK=$(mktemp -d /tmp/airlock-deploy-check.XXXXXX)
on_exit "rm -rf '$WORK'"
started=$SECONDS

log "tools"
# Idempotent: when everything is installed it only checks versions (no network, < 1 s).
env_file=$(bash tests/deploy/install-tools.sh) || { bad "install tools (tests/deploy/install-tools.sh)"; exit 1; }
# shellcheck source=/dev/null
. "$env_file"
PY=deploy-python
printf '  helm %s, %s, kubernetes-validate %s\n' "$(helm version --template '{{.Version}}')" \
    "$(hadolint --version)" "$(kubernetes-validate --version)" >&2

# --- image recipes ----------------------------------------------------------------------------
log "image recipes (hadolint)"
for f in deploy/Dockerfile deploy/Containerfile.prebuilt; do
    check "hadolint $f" hadolint --no-color "$f"
done
printf 'FROM debian:latest\nRUN apt-get update && apt-get install -y curl\n' >"$WORK/Bad.Dockerfile"
refuse "hadolint refuses a Dockerfile with :latest and unpinned apt" "DL3007|DL3008" \
    hadolint --no-color "$WORK/Bad.Dockerfile"

# The two recipes must make the same runtime image: same user, env, ports, entrypoint, command.
image_contract() {
    "$PY" - deploy/Dockerfile deploy/Containerfile.prebuilt <<'PY'
import re, sys
def final_stage(path):
    lines = re.sub(r"\\\n", " ", open(path).read()).splitlines()
    stages, cur = [], []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            cur = []
            stages.append(cur)
        cur.append((word.upper(), " ".join(rest.split())))
    return {k: v for k, v in stages[-1] if k in ("FROM", "USER", "ENV", "EXPOSE", "ENTRYPOINT", "CMD", "WORKDIR")}
a, b = (final_stage(p) for p in sys.argv[1:])
want = {"FROM": "scratch", "USER": "65532:65532", "ENV": "AIRLOCK_HOME=/var/lib/airlock", "EXPOSE": "9464",
        "ENTRYPOINT": '["/airlock", "node", "create", "--foreground", "--log-format", "json"]',
        "CMD": '["/etc/airlock/airlock.yaml"]', "WORKDIR": "/var/lib/airlock"}
bad = [f"{p}: {k} is {d.get(k)!r}, want {v!r}" for p, d in zip(sys.argv[1:], (a, b)) for k, v in want.items() if d.get(k) != v]
print("\n".join(bad) or "same runtime contract")
sys.exit(1 if bad else 0)
PY
}
check "Dockerfile and Containerfile.prebuilt declare the same runtime image" image_contract

# --- Kubernetes manifests ---------------------------------------------------------------------
validate() { # validate FILE: strict schema validation against every version in KUBE_VERSIONS
    local v
    for v in "${KUBE_VERSIONS[@]}"; do
        kubernetes-validate --strict --quiet -k "$v" "$1" || return 1
    done
}
log "manifests (kubernetes-validate --strict, Kubernetes ${KUBE_VERSIONS[*]})"
manifests=(deploy/kubernetes/*.yaml)
for f in "${manifests[@]}"; do
    check "schema: $f" validate "$f"
done
check "sidecar contract and node config: bank-corp.yaml, analysis-corp.yaml" \
    "$PY" tests/deploy/workloads.py deploy/kubernetes/bank-corp.yaml deploy/kubernetes/analysis-corp.yaml

# --- Helm chart -------------------------------------------------------------------------------
log "helm chart (helm $HELM_KUBE)"
values_sets=("default:" "bank:-f $CHART/examples/bank-values.yaml" "analysis:-f $CHART/examples/analysis-values.yaml")
for vs in "${values_sets[@]}"; do
    name=${vs%%:*}
    # shellcheck disable=SC2086
    check "helm lint --strict ($name values)" helm lint --strict --kube-version "$HELM_KUBE" "$CHART" ${vs#*:}
done
render() { # render NAME ARGS...: helm template into $WORK/NAME.yaml
    local name=$1
    shift
    helm template "$name" "$CHART" --namespace "$name" --kube-version "$HELM_KUBE" "$@" >"$WORK/$name.yaml"
}
variants=(
    "default:"
    "bank:-f $CHART/examples/bank-values.yaml"
    "analysis:-f $CHART/examples/analysis-values.yaml"
    "native-sidecar:-f $CHART/examples/analysis-values.yaml --set nativeSidecar=true"
    "env-ticket-pvc:-f $CHART/examples/bank-values.yaml --set ticket.mode=env --set state.persistence.enabled=true"
)
for vs in "${variants[@]}"; do
    name=${vs%%:*}
    # shellcheck disable=SC2086
    if render "$name" ${vs#*:} 2>"$WORK/out"; then
        check "helm template + schema: $name" validate "$WORK/$name.yaml"
        check "sidecar contract and node config: chart, $name" "$PY" tests/deploy/workloads.py "$WORK/$name.yaml"
    else
        bad "helm template ($name)" "$WORK/out"
    fi
done
check "existing Secret: no Secret rendered, sidecar reads it" bash -c "
    helm template ext '$CHART' --kube-version '$HELM_KUBE' --set ticket.existingSecret=bank-ticket >'$WORK/ext.yaml' &&
    ! grep -q '^kind: Secret' '$WORK/ext.yaml' && grep -q 'secretName: bank-ticket' '$WORK/ext.yaml' &&
    '$PY' tests/deploy/workloads.py --external-secret '$WORK/ext.yaml'"
for p in bank analysis; do
    check "chart example $p-values.yaml makes the same pod as deploy/kubernetes/$p-corp.yaml" \
        "$PY" tests/deploy/workloads.py --same-pod "deploy/kubernetes/$p-corp.yaml" "$WORK/$p.yaml"
done

# --- the checks themselves catch mistakes -----------------------------------------------------
log "negative checks (each must be refused)"
mutate() { # mutate SRC DST PYTHON-EXPR-ON-docs: a changed copy of a manifest
    "$PY" - "$1" "$2" "$3" <<'PY'
import sys, yaml
src, dst, expr = sys.argv[1:]
docs = [d for d in yaml.safe_load_all(open(src)) if d]
dep = next(d for d in docs if d["kind"] == "Deployment")
pod = dep["spec"]["template"]["spec"]
sidecar = next(c for c in pod["containers"] if c["name"] == "airlock")
cm = next(d for d in docs if d["kind"] == "ConfigMap")
exec(expr)
yaml.safe_dump_all(docs, open(dst, "w"), sort_keys=False)
PY
}
bank=deploy/kubernetes/bank-corp.yaml
mutate $bank "$WORK/typo.yaml" \
    'sidecar["securityContext"]["readOnlyRootFileSystem"] = sidecar["securityContext"].pop("readOnlyRootFilesystem")'
refuse "schema refuses a misspelled field (readOnlyRootFileSystem)" "readOnlyRootFileSystem" \
    kubernetes-validate --strict -k "${KUBE_VERSIONS[0]}" "$WORK/typo.yaml"
mutate $bank "$WORK/type.yaml" 'sidecar["ports"][0]["containerPort"] = "9464"'
refuse "schema refuses a string containerPort" "is not of type 'integer'|did not validate" \
    kubernetes-validate --strict -k "${KUBE_VERSIONS[0]}" "$WORK/type.yaml"
mutate $bank "$WORK/writable.yaml" 'sidecar["securityContext"]["readOnlyRootFilesystem"] = False'
refuse "contract refuses a writable root file system" "readOnlyRootFilesystem" \
    "$PY" tests/deploy/workloads.py "$WORK/writable.yaml"
mutate $bank "$WORK/badconf.yaml" 'cm["data"]["airlock.yaml"] += "tcp-outlet-to: 127.0.0.1:1\n"'
refuse "contract refuses an unknown key in airlock.yaml" "unknown key 'tcp-outlet-to'" \
    "$PY" tests/deploy/workloads.py "$WORK/badconf.yaml"
# shellcheck disable=SC2016 # a literal ${...} for the node, not for the shell
mutate $bank "$WORK/novar.yaml" 'cm["data"]["airlock.yaml"] = cm["data"]["airlock.yaml"].replace("/run/secrets/airlock/ticket", "${ENROLLMENT_TICKET}")'
refuse "contract refuses \${ENROLLMENT_TICKET} without that variable" "ENROLLMENT_TICKET" \
    "$PY" tests/deploy/workloads.py "$WORK/novar.yaml"
refuse "chart schema refuses an unknown outlet key" "tcp-outlets/db" \
    helm template bad "$CHART" --kube-version "$HELM_KUBE" --set config.tcp-outlets.db.too=127.0.0.1:1
refuse "chart schema refuses a misspelled top-level value" "extraContainer" \
    helm template bad "$CHART" --kube-version "$HELM_KUBE" --set extraContainer=x
refuse "chart schema refuses an unknown policy resource-type" "resource-type" \
    helm template bad "$CHART" --kube-version "$HELM_KUBE" --set 'config.policies[0].resource-type=outlet' --set 'config.policies[0].expression=true'
mutate $bank "$WORK/badtype.yaml" 'cm["data"]["airlock.yaml"] = cm["data"]["airlock.yaml"].replace("resource-type: tcp-outlet", "resource-type: outlet")'
refuse "contract refuses an unknown policy resource-type in airlock.yaml" "resource-type must be one of" \
    "$PY" tests/deploy/workloads.py "$WORK/badtype.yaml"
refuse "chart refuses nativeSidecar before Kubernetes 1.29" "1.29" \
    helm template bad "$CHART" --kube-version 1.28.0 -f "$CHART/examples/bank-values.yaml" --set nativeSidecar=true

# --- systemd unit -----------------------------------------------------------------------------
log "systemd unit"
unit=deploy/systemd/airlock-node.service
if command -v systemd-analyze >/dev/null; then
    # verify wants the ExecStart binary to exist: point it at one that does.
    mkdir -p "$WORK/unit"
    sed "s#/usr/local/bin/airlock#$(command -v true)#g" $unit >"$WORK/unit/airlock-node.service"
    check "systemd-analyze verify $unit" systemd-analyze verify "$WORK/unit/airlock-node.service"
    # threshold is in tenths: fail above an exposure of 2.0 ("OK" is below 3).
    check "systemd-analyze security: exposure at most 2.0" \
        systemd-analyze security --offline=yes --threshold=20 "$WORK/unit/airlock-node.service"
else
    skip "systemd unit: no systemd-analyze"
fi
check "unit runs the node in the foreground with JSON logs, state and ticket file" bash -c "
    grep -qx 'ExecStart=/usr/local/bin/airlock node create /etc/airlock/airlock.yaml --foreground --log-format json' $unit &&
    grep -qx 'StateDirectory=airlock' $unit && grep -qx 'Environment=AIRLOCK_HOME=/var/lib/airlock' $unit &&
    grep -q '^EnvironmentFile=' $unit && grep -qx 'Restart=on-failure' $unit"

# --- the image, built from a static binary ----------------------------------------------------
log "image from deploy/Containerfile.prebuilt"
image_checks() {
    local bin=$1 engine=$2 tag=localhost/airlock:deploy-check ctx="$WORK/image"
    if ! { mkdir -p "$ctx/state" && cp "$bin" "$ctx/airlock"; }; then bad "copy $bin"; return; fi
    if [ "$engine" = podman ]; then
        check "podman build (vfs, --network none)" \
            podman build --network none --pull=never --layers=false -f deploy/Containerfile.prebuilt -t $tag "$ctx"
    else
        check "buildah bud (vfs, chroot isolation)" \
            buildah bud --isolation chroot --layers=false -f deploy/Containerfile.prebuilt -t $tag "$ctx"
    fi
    local inspect="podman image inspect $tag"
    [ "$engine" = podman ] || inspect="buildah inspect --type image $tag"
    on_exit "$engine rmi -f $tag"
    check "image config: user 65532, AIRLOCK_HOME, entrypoint, command, port" bash -c "
        $inspect | '$PY' -c '
import json, sys
c = json.load(sys.stdin)
c = c[0][\"Config\"] if isinstance(c, list) else c[\"OCIv1\"][\"config\"]  # podman, buildah
assert c[\"User\"] == \"65532:65532\", c[\"User\"]
assert \"AIRLOCK_HOME=/var/lib/airlock\" in c[\"Env\"], c[\"Env\"]
assert c[\"Entrypoint\"] == [\"/airlock\", \"node\", \"create\", \"--foreground\", \"--log-format\", \"json\"], c[\"Entrypoint\"]
assert c[\"Cmd\"] == [\"/etc/airlock/airlock.yaml\"], c[\"Cmd\"]
assert \"9464/tcp\" in c[\"ExposedPorts\"], c[\"ExposedPorts\"]
print(\"ok\")'"
    if [ "$engine" = podman ]; then
        check "airlock --version in the image (runc, --network none)" bash -c "
            out=\$(podman run --rm --network none --entrypoint /airlock $tag --version) && echo \"\$out\" &&
            [[ \"\$out\" == airlock* ]]"
        check "state folder in the image belongs to 65532" bash -c "
            root=\$(podman image mount $tag) && trap 'podman image unmount $tag >/dev/null' EXIT &&
            [ \"\$(stat -c %u:%g \"\$root/var/lib/airlock\")\" = 65532:65532 ]"
    else
        check "airlock --version in the image (buildah run)" bash -c "
            ctr=\$(buildah from --pull=never $tag) && trap 'buildah rm \$ctr >/dev/null' EXIT &&
            out=\$(buildah run --isolation chroot \"\$ctr\" -- /airlock --version) && echo \"\$out\" && [[ \"\$out\" == airlock* ]]"
    fi
    if [ "$engine" = podman ] && "$bin" node create --help 2>/dev/null | grep -q -- '--metrics'; then
        node_in_image $tag
    else
        skip "node in the image (needs podman and a binary with --metrics)"
    fi
}

# Runs a node in the image as the pod does: read-only root, no capabilities, config mounted at
# /etc/airlock, state on a volume owned by the pod's fsGroup, --metrics on 0.0.0.0:9464; probes
# it from inside its network namespace (as the kubelet does on the pod IP), stops it with SIGTERM.
node_in_image() {
    local tag=$1 name="airlock-deploy-check-$$" pid code i
    mkdir -p "$WORK/etc" "$WORK/state"
    printf 'name: smoke\ntcp-outlets:\n  smoke: { to: 127.0.0.1:9 }\n' >"$WORK/etc/airlock.yaml"
    chmod 0755 "$WORK/etc" && chmod 0644 "$WORK/etc/airlock.yaml"
    chown 65532:65532 "$WORK/state" && chmod 0770 "$WORK/state"
    on_exit "podman rm -f $name"
    if ! podman run -d --name "$name" --network none --read-only --cap-drop ALL \
        --security-opt no-new-privileges -v "$WORK/etc:/etc/airlock:ro" -v "$WORK/state:/var/lib/airlock" \
        "$tag" /etc/airlock/airlock.yaml --metrics 0.0.0.0:9464 >"$WORK/out" 2>&1; then
        bad "run a node in the image" "$WORK/out"
        return
    fi
    pid=$(podman inspect --format '{{.State.Pid}}' "$name")
    probe() { # probe PATH: prints the HTTP status of GET PATH from inside the container's network
        nsenter -t "$pid" -n "$(command -v "$PY")" -c '
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen("http://127.0.0.1:9464" + sys.argv[1], timeout=2); print(r.status); sys.stdout.write(r.read(4000).decode())
except urllib.error.HTTPError as e:
    print(e.code)
' "$1" 2>/dev/null
    }
    for i in $(seq 1 100); do
        [ "$(probe /healthz | head -1)" = 200 ] && break
        [ "$(podman inspect --format '{{.State.Running}}' "$name")" = true ] || break
        sleep 0.2
    done
    podman logs "$name" >"$WORK/node.out" 2>"$WORK/node.err"
    if [ "$(probe /healthz | head -1)" = 200 ]; then
        pass "node in the image answers /healthz on 0.0.0.0:9464 (read-only root, no capabilities)"
    else
        cat "$WORK/node.out" "$WORK/node.err" >"$WORK/out"
        bad "node in the image: /healthz never answered 200" "$WORK/out"
        return
    fi
    # A stand-alone node with an outlet and no project is ready once it has started: wait for
    # 200 (bounded), a 503 that never ends is a failure.
    local ready
    for i in $(seq 1 100); do
        ready=$(probe /readyz)
        [ "$(head -1 <<<"$ready")" = 200 ] && break
        sleep 0.2
    done
    ready=$(tr '\n' ' ' <<<"$ready")
    probe /metrics >"$WORK/metrics"
    if [[ $ready == "200 ready"* ]] && [ "$(head -1 "$WORK/metrics")" = 200 ] &&
        grep -Eq '^# (HELP|TYPE) ' "$WORK/metrics"; then
        pass "node in the image: /readyz answers ($ready), /metrics is Prometheus text"
    else
        { echo "readyz: $ready"; head -20 "$WORK/metrics"; } >"$WORK/out"
        bad "node in the image: /readyz or /metrics" "$WORK/out"
    fi
    check "node in the image: state written to the volume by 65532" bash -c "
        ls -ln '$WORK/state'; [ -n \"\$(find '$WORK/state' -user 65532 -name 'state.db*')\" ]"
    i=$SECONDS
    podman stop -t 25 "$name" >/dev/null 2>&1
    code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
    podman logs "$name" >"$WORK/node.out" 2>"$WORK/node.err"
    if [ "$code" = 0 ]; then
        pass "node in the image stops on SIGTERM with status 0 ($((SECONDS - i)) s)"
    else
        cat "$WORK/node.out" "$WORK/node.err" >"$WORK/out"
        bad "node in the image: exit status $code after SIGTERM" "$WORK/out"
    fi
    check "node in the image: stdout is JSON lines (--log-format json)" "$PY" -c '
import json, sys
lines = [l.rstrip("\n") for l in open(sys.argv[1]) if l.strip()]
def is_object(l):
    try:
        return isinstance(json.loads(l), dict)
    except ValueError:
        return False
bad = [l for l in lines if not is_object(l)]
for l in bad[:5]:
    print("not a JSON object:", l)
print(len(lines), "lines on stdout,", len(bad), "not JSON")
sys.exit(1 if bad or not lines else 0)' "$WORK/node.out"
}

if [ -z "${AIRLOCK_STATIC_BIN:-}" ]; then
    skip "image build and run: set AIRLOCK_STATIC_BIN to a static airlock binary"
elif [ ! -x "$AIRLOCK_STATIC_BIN" ]; then
    bad "AIRLOCK_STATIC_BIN=$AIRLOCK_STATIC_BIN is not an executable file"
elif ! ldd "$AIRLOCK_STATIC_BIN" 2>&1 | grep -Eq 'not a dynamic executable|statically linked'; then
    ldd "$AIRLOCK_STATIC_BIN" >"$WORK/out" 2>&1
    bad "$AIRLOCK_STATIC_BIN is not static (the image has no libc)" "$WORK/out"
elif [ "${AIRLOCK_IMAGE_ENGINE:-podman}" = podman ] && command -v podman >/dev/null && command -v runc >/dev/null; then
    image_checks "$AIRLOCK_STATIC_BIN" podman
elif command -v buildah >/dev/null; then
    image_checks "$AIRLOCK_STATIC_BIN" buildah
else
    skip "image build and run: no podman/buildah (AIRLOCK_DEPLOY_CONTAINERS=1 bash tests/deploy/install-tools.sh)"
fi

passed=$STEP
log "deploy checks done in $((SECONDS - started)) s"
echo "$passed passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" = 0 ]
