#!/usr/bin/env bash
# The test command (README's second command; .ci/run calls it): formatting, lints, unit and
# integration tests, rustdoc, every fuzz target for a bounded time (tests/fuzz.sh), then the
# scenario tests and the README's demos against the release binary, each under a time limit.
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
command -v script >/dev/null || need+=(bsdutils) # a pseudo-terminal for the CLI prompt tests
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then echo "missing packages: ${need[*]} (install them or run as root)"; exit 1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null || {
        apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null; }
fi
echo "ok"

section "disk space"
# A cold run writes about 8 GiB (release target, static build, fuzz builds in the cache); a full
# disk shows up later as a linker crash, so say it here first.
free_kib=$(df -Pk . | awk 'NR == 2 { print $4 }')
df -h . | tail -1
[ "$free_kib" -ge $((10 * 1024 * 1024)) ] || echo "WARNING: only $((free_kib / 1024 / 1024)) GiB free here; a cold run needs about 8 GiB"

section "cargo fmt --check"
cargo fmt --all -- --check

section "cargo build --release"
cargo build --release --workspace --all-targets

section "cargo clippy -D warnings"
cargo clippy --release --workspace --all-targets -- -D warnings

section "cargo test --release"
# The PostgreSQL store tests need a server: tests/scenarios/project_postgres.sh starts one and runs
# every one of them (counted), so they are skipped here (with CI=true they fail without a server).
cargo test --release --workspace -- --skip postgres_

section "cargo doc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace -q

section "fuzz targets (each ${FUZZ_SECONDS:-30} s)"
bash tests/fuzz.sh

section "test bed parts (FerretDB, the mongodb driver, Apache Kafka, kcat, kafka-python; cached)"
(
    source tests/testbed/ferretdb.sh
    source tests/testbed/mongodb.sh
    source tests/testbed/kafka.sh
    ferretdb_install >/dev/null
    mongodb_client_install >/dev/null
    kafka_install >/dev/null
    kafka_python_install >/dev/null
)
echo "ok"

# Scenarios and the README's demos, in two lanes that share no ports or namespaces; each has a
# time limit. A lane's output is printed when it ends; the first failure fails the run.
export AIRLOCK_BIN="$PWD/target/release/airlock"
LANES="$(mktemp -d /tmp/airlock-lanes.XXXXXX)"
# `step LIMIT TITLE CMD…` runs one scenario under its time limit.
step() {
    local limit=$1 title=$2 rc=0
    shift 2
    section "$title"
    timeout --kill-after=30 "$limit" "$@" || rc=$?
    [ "$rc" != 124 ] || echo "TIMEOUT: $title took over $limit s"
    return "$rc"
}
demo() { # `demo LIMIT NAME`: examples/NAME/run.sh must succeed; its cleanup always runs.
    local rc=0
    step "$1" "README demo: examples/$2/run.sh" bash "examples/$2/run.sh" || rc=$?
    bash "examples/$2/run.sh" cleanup >/dev/null 2>&1 || true
    return "$rc"
}
lane_a() {
    step 600 "scenario: portal with PostgreSQL" bash tests/scenarios/portal_postgres.sh &&
        step 900 "scenario: MongoDB across isolated networks (seed 002)" bash tests/scenarios/mongodb.sh &&
        step 600 "scenario: Kafka with end-to-end encrypted records (seed 000)" bash tests/scenarios/kafka.sh &&
        demo 300 portal &&
        demo 300 kafka/apache
}
lane_b() {
    step 900 "scenario: two project nodes on one PostgreSQL" bash tests/scenarios/project_postgres.sh &&
        step 600 "scenario: Kubernetes pod topology on network namespaces (seed 004)" bash tests/scenarios/pods.sh &&
        step 300 "scenario: the Kafka test bed (KRaft, console clients, kcat, SASL_SSL)" bash tests/scenarios/kafka_testbed.sh &&
        step 600 "scenario: Kafka through a SASL_SSL cloud-style broker (seed 001)" bash tests/scenarios/kafka_cloud.sh &&
        step 600 "scenario: secure channels through Kafka topics (seed 003)" bash tests/scenarios/streams.sh &&
        demo 300 mongodb &&
        demo 300 kafka/cloud
}
lane_a >"$LANES/a.log" 2>&1 &
pid_a=$!
lane_b >"$LANES/b.log" 2>&1 &
pid_b=$!
rc_a=0; wait "$pid_a" || rc_a=$?
cat "$LANES/a.log"
rc_b=0; wait "$pid_b" || rc_b=$?
cat "$LANES/b.log"
rm -rf "$LANES"
[ "$rc_a" = 0 ] && [ "$rc_b" = 0 ] || { echo "scenario lanes failed (a: $rc_a, b: $rc_b)"; exit 1; }

section "deploy: image recipes, Kubernetes manifests, Helm chart, systemd unit (offline)"
# The image holds a fully static binary (its own target folder: a second release build).
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu -p airlock-cli
AIRLOCK_DEPLOY_CONTAINERS=1 AIRLOCK_STATIC_BIN=target/x86_64-unknown-linux-gnu/release/airlock \
    bash tests/deploy/check.sh

section "all tests passed"
