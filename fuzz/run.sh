#!/usr/bin/env bash
# Builds and runs every fuzz target for a bounded time; fails on any crash.
#
#   fuzz/run.sh                 # every target, 15 s each
#   fuzz/run.sh 180             # every target, 3 minutes each
#   fuzz/run.sh 60 cleaner      # some targets only
#
# Environment:
#   FUZZ_SANITIZER    address (default with a nightly toolchain) or none
#   FUZZ_TARGET_DIR   cargo target dir of the fuzz build (default fuzz/target);
#                     CI points it outside the clone so builds are incremental
#   CARGO_BUILD_JOBS  parallel rustc jobs (default 1: the machine is shared)
#
# Exit codes: 0 no crash; 1 a target crashed, timed out or ran out of memory
# (its input is in fuzz/artifacts/<target>/); 3 cargo-fuzz or a compiler
# able to build the targets is missing (the caller decides whether that is
# fatal).
#
# Targets run one after another with libFuzzer's defaults plus a per-input
# timeout and memory limit, on a throw-away corpus seeded from
# fuzz/corpus/<target> (the committed seeds stay small; new inputs found go
# to $FUZZ_TARGET_DIR/corpus/<target> and are kept between runs).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
if [ -d "$HOME/.cargo/bin" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
# The test command exports a static-glibc RUSTFLAGS for the broker's target;
# it must not reach cargo-fuzz's own install (a static host target cannot
# build proc-macros: "cannot produce proc-macro for clap_derive") nor the
# sanitizer builds (ASan links dynamically).
unset CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS

SECONDS_PER_TARGET="${1:-15}"
shift || true
ALL_TARGETS=(request_decode batch_validate request_handlers log_recovery raft_log partition_marker cleaner recompress)
if [ "$#" -gt 0 ]; then
    TARGETS=("$@")
else
    TARGETS=("${ALL_TARGETS[@]}")
fi
TARGET_DIR="${FUZZ_TARGET_DIR:-$HERE/target}"

log() { printf '\n== fuzz: %s\n' "$*"; }

# 1. Tooling ---------------------------------------------------------------
if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz from crates.io"
    if ! cargo install cargo-fuzz --version 0.13.2 --locked; then
        echo "fuzz: cannot build cargo-fuzz" >&2
        exit 3
    fi
fi

# cargo-fuzz needs unstable rustc flags: a nightly if there is one; else the
# stable compiler with RUSTC_BOOTSTRAP=1 and no sanitizer (the address
# sanitizer's runtime ships with nightly only).
TOOLCHAIN=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    TOOLCHAIN=(+nightly)
    SANITIZER="${FUZZ_SANITIZER:-address}"
else
    export RUSTC_BOOTSTRAP=1
    SANITIZER="${FUZZ_SANITIZER:-none}"
fi
FUZZ=(cargo "${TOOLCHAIN[@]}" fuzz)
echo "fuzz: $(cargo "${TOOLCHAIN[@]}" --version), cargo-fuzz $(cargo fuzz --version | awk '{print $2}'), sanitizer $SANITIZER"

# 2. Build -------------------------------------------------------------------
log "building the targets (target dir $TARGET_DIR)"
start=$(date +%s)
# One cargo call for every target: they share one compile of gregor.
if ! "${FUZZ[@]}" build --sanitizer "$SANITIZER" --target-dir "$TARGET_DIR"; then
    # A compile error in the facade or a target is a failure, not a missing
    # tool: only a toolchain that cannot build the smallest target is.
    if ! "${FUZZ[@]}" build --sanitizer "$SANITIZER" --target-dir "$TARGET_DIR" batch_validate >/dev/null 2>&1; then
        echo "fuzz: no toolchain here can build the fuzz targets" >&2
        exit 3
    fi
    echo "fuzz: the fuzz targets do not build" >&2
    exit 1
fi
echo "fuzz: build took $(( $(date +%s) - start ))s"

# 3. Run -----------------------------------------------------------------------
failed=()
summary=()
for t in "${TARGETS[@]}"; do
    log "$t for ${SECONDS_PER_TARGET}s"
    # A fresh work corpus each run, grown from the committed seeds only: a run
    # on this commit explores the same way wherever it runs, instead of
    # resuming from whatever earlier runs on this machine left behind.
    work="$TARGET_DIR/corpus/$t"
    rm -rf "$work"
    artifacts="$HERE/artifacts/$t"
    mkdir -p "$work" "$artifacts"
    out="$TARGET_DIR/fuzz-$t.log"
    set +e
    seeds=()
    if [ -d "$HERE/corpus/$t" ]; then
        seeds=("$HERE/corpus/$t")
    fi
    "${FUZZ[@]}" run --sanitizer "$SANITIZER" --target-dir "$TARGET_DIR" "$t" "$work" "${seeds[@]}" -- \
        -seed="${FUZZ_SEED:-1}" -max_total_time="$SECONDS_PER_TARGET" -timeout=30 -rss_limit_mb=2048 -max_len=8192 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 >"$out" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1 || true)
    cov=$(grep -aoE 'cov: [0-9]+ ft: [0-9]+' "$out" | tail -1 || true)
    line="$t: exit $rc, ${execs:-?} executions, ${cov:-no coverage line}"
    summary+=("$line")
    echo "$line"
    if [ "$rc" != "0" ]; then
        failed+=("$t")
        grep -aE 'panicked|ERROR:|SUMMARY|Test unit written' "$out" | head -20 || true
        tail -40 "$out"
    fi
done

log "summary"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]} (inputs in fuzz/artifacts/, logs in $TARGET_DIR/fuzz-*.log)" >&2
    exit 1
fi
echo "fuzz: ${#TARGETS[@]} targets, no crash"
