#!/usr/bin/env bash
# The test command (README's second command; .ci/run calls it): formatting, lints, unit and
# integration tests, then the scenario tests against the release binary.
# Installs what it needs (Debian packages) on a fresh machine; downloads are cached in
# ${AIRLOCK_CACHE:-$HOME/.cache/airlock}.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
section() { printf '\n=== %s (%s) ===\n' "$*" "$(date +%H:%M:%S)"; }

section "system packages"
need=()
command -v psql >/dev/null || need+=(postgresql-client)
command -v ip >/dev/null || need+=(iproute2)
command -v curl >/dev/null || need+=(curl)
command -v systemd-analyze >/dev/null || need+=(systemd)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then echo "missing packages: ${need[*]} (install them or run as root)"; exit 1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null || {
        apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null; }
fi
echo "ok"

section "cargo fmt --check"
cargo fmt --all -- --check

section "cargo build --release"
cargo build --release --workspace --all-targets

section "cargo clippy -D warnings"
cargo clippy --release --workspace --all-targets -- -D warnings

section "cargo test --release"
cargo test --release --workspace

section "scenario: portal with PostgreSQL"
bash tests/scenarios/portal_postgres.sh

section "scenario: MongoDB across isolated networks (seed 002)"
bash tests/scenarios/mongodb.sh

section "scenario: two project nodes on one PostgreSQL"
bash tests/scenarios/project_postgres.sh

section "scenario: Kubernetes pod topology on network namespaces (seed 004)"
bash tests/scenarios/pods.sh

section "deploy: image recipes, Kubernetes manifests, Helm chart, systemd unit (offline)"
# The image holds a fully static binary (its own target folder: a second release build).
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu -p airlock-cli
AIRLOCK_DEPLOY_CONTAINERS=1 AIRLOCK_STATIC_BIN=target/x86_64-unknown-linux-gnu/release/airlock \
    bash tests/deploy/check.sh

section "all tests passed"
