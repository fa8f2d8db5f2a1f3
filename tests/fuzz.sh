#!/usr/bin/env bash
# Builds every fuzz target in fuzz/ (cargo-fuzz, nightly, AddressSanitizer) and runs each for a
# bounded time. Any crash, leak, timeout or out-of-memory is a failure; its input is kept.
#
#   bash tests/fuzz.sh                      # every target, FUZZ_SECONDS (30) each, 2 at a time
#   FUZZ_SECONDS=300 bash tests/fuzz.sh policy handshake
#
# cargo-fuzz is installed once into ${AIRLOCK_CACHE:-$HOME/.cache/airlock}/cargo-fuzz-<version>;
# the fuzz build keeps its target folder in the cache too, so a fresh clone rebuilds only our crates.
# Corpora and crash inputs go to a temporary folder (printed), never into the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_FUZZ_VERSION=0.13.2
CACHE="${AIRLOCK_CACHE:-$HOME/.cache/airlock}"
SECONDS_EACH="${FUZZ_SECONDS:-30}"
PARALLEL="${FUZZ_PARALLEL:-2}"
say() { printf '[fuzz] %s\n' "$*" >&2; }

rustup toolchain list | grep -q '^nightly' || { say "error: the nightly toolchain is needed (rustup toolchain install nightly)"; exit 1; }
TOOL="$CACHE/cargo-fuzz-$CARGO_FUZZ_VERSION"
if ! "$TOOL/bin/cargo-fuzz" --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    say "installing cargo-fuzz $CARGO_FUZZ_VERSION into $TOOL"
    cargo install -q cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$TOOL.tmp"
    rm -rf "$TOOL" && mv "$TOOL.tmp" "$TOOL"
fi
export PATH="$TOOL/bin:$PATH"
export CARGO_TARGET_DIR="$CACHE/fuzz-target"

targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
[ ${#targets[@]} -gt 0 ] || { say "error: no fuzz targets found"; exit 1; }
say "building ${#targets[@]} targets (nightly, ASan)"
cargo +nightly fuzz build -a

OUT="$(mktemp -d /tmp/airlock-fuzz.XXXXXX)"
say "corpora and findings in $OUT; ${SECONDS_EACH} s per target, $PARALLEL at a time"
run_one() {
    local t=$1
    mkdir -p "$OUT/corpus/$t" "$OUT/artifacts/$t"
    # -rss_limit_mb bounds memory; -timeout flags any input that takes over 10 s.
    if cargo +nightly fuzz run -a "$t" "$OUT/corpus/$t" -- -max_total_time="$SECONDS_EACH" \
        -rss_limit_mb=1024 -timeout=10 -artifact_prefix="$OUT/artifacts/$t/" -print_final_stats=1 \
        >"$OUT/$t.log" 2>&1; then
        printf '  ok %-18s %s\n' "$t" "$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$OUT/$t.log" | grep -Eo '[0-9]+$') runs" >&2
    else
        printf '  FAIL %s (log: %s)\n' "$t" "$OUT/$t.log" >&2
        tail -30 "$OUT/$t.log" | sed 's/^/     /' >&2
        return 1
    fi
}
failed=0
pids=()
for t in "${targets[@]}"; do
    run_one "$t" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$PARALLEL" ]; then
        wait "${pids[0]}" || failed=$((failed + 1))
        pids=("${pids[@]:1}")
    fi
done
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
if [ "$failed" -gt 0 ]; then
    say "$failed of ${#targets[@]} targets failed; inputs kept in $OUT/artifacts"
    exit 1
fi
rm -rf "$OUT"
say "all ${#targets[@]} targets ran ${SECONDS_EACH} s each without a finding"
