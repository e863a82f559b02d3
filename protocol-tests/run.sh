#!/usr/bin/env bash
# The project's test command: Rust unit tests, then the black-box protocol
# suite (real Kafka clients against the real gregor binary).
#
#   ./protocol-tests/run.sh                 # everything
#   ./protocol-tests/run.sh -k kcat         # extra args go to pytest
#   PT_SKIP_CARGO=1 ./protocol-tests/run.sh # reuse an existing target/x86_64-unknown-linux-gnu/release/gregor
#   PT_SKIP_FUZZ=1 ./protocol-tests/run.sh  # without the short fuzz run
#   PT_FUZZ_SECONDS=30 ./protocol-tests/run.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT"

if [ -d "$HOME/.cargo/bin" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

log() { printf '\n== %s\n' "$*"; }

# 1. Build and unit tests ---------------------------------------------------
# One static build (glibc linked in) serves the unit tests, the protocol suite
# and the FROM scratch image that test_docker.py builds, so CI compiles once.
TARGET=x86_64-unknown-linux-gnu
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static"
if [ "${PT_SKIP_CARGO:-0}" != "1" ]; then
    log "cargo build --release --target $TARGET (static)"
    cargo build --release --target "$TARGET"
    log "cargo test --release --target $TARGET"
    cargo test --release --target "$TARGET"
fi

# 1b. A short run of every fuzz target ---------------------------------------
# Builds the fuzz package (so a facade change that breaks it fails here) and
# replays the seeds and every input that ever crashed, then fuzzes a little.
# The fuzz build lives outside the clone so later runs on this machine only
# rebuild gregor (see fuzz/README.md).
if [ "${PT_SKIP_FUZZ:-0}" != "1" ]; then
    log "fuzz/run.sh ${PT_FUZZ_SECONDS:-10} (every fuzz target)"
    fuzz_start=$(date +%s)
    set +e
    FUZZ_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/gregor/fuzz-target}" \
        "$ROOT/fuzz/run.sh" "${PT_FUZZ_SECONDS:-10}"
    fuzz_rc=$?
    set -e
    echo "fuzz run took $(( $(date +%s) - fuzz_start ))s (exit code $fuzz_rc)"
    if [ "$fuzz_rc" = "3" ]; then
        printf '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n'
        echo "!!! FUZZ TARGETS SKIPPED: cargo-fuzz or a compiler for it cannot be built here"
        printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n'
    elif [ "$fuzz_rc" != "0" ]; then
        echo "fuzz targets failed (exit $fuzz_rc): see fuzz/artifacts/" >&2
        exit "$fuzz_rc"
    fi
fi

# 2. Python venv with pinned clients ----------------------------------------
PY="${PYTHON:-python3}"
VENV="$HERE/.venv"
REQ="$HERE/requirements.txt"
STAMP="$VENV/.requirements.stamp"

if [ ! -x "$VENV/bin/python" ]; then
    log "creating venv $VENV"
    if ! "$PY" -m venv "$VENV"; then
        rm -rf "$VENV"
        if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
            log "python venv module missing; installing python3-venv"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv
            "$PY" -m venv "$VENV"
        else
            echo "cannot create a venv with $PY (install python3-venv)" >&2
            exit 1
        fi
    fi
fi

want_stamp="$( (cat "$REQ"; "$VENV/bin/python" --version) | sha256sum | cut -d' ' -f1)"
have_stamp="$(cat "$STAMP" 2>/dev/null || true)"
if [ "$want_stamp" != "$have_stamp" ]; then
    log "pip install -r protocol-tests/requirements.txt"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQ"
    echo "$want_stamp" > "$STAMP"
else
    log "python requirements unchanged (stamp ok)"
fi

# 3. Optional system tools: kcat and strace ---------------------------------
APT_UPDATED=0
apt_install() {
    # apt_install PACKAGE...: best effort, never fails the run.
    if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
        return 1
    fi
    if [ "$APT_UPDATED" = "0" ]; then
        timeout 300 apt-get update -q >/dev/null 2>&1 || true
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q "$@" >/dev/null 2>&1
}

if ! command -v kcat >/dev/null 2>&1 && ! command -v kafkacat >/dev/null 2>&1; then
    log "installing kcat"
    apt_install kcat || apt_install kafkacat \
        || echo "kcat unavailable (not root or apt failed): kcat tests will be skipped"
fi
if ! command -v strace >/dev/null 2>&1; then
    log "installing strace"
    apt_install strace || echo "strace unavailable (not root or apt failed): sendfile test will be skipped"
fi

# 4. The protocol suite -----------------------------------------------------
BIN="${GREGOR_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/$TARGET/release/gregor}"
if [ ! -x "$BIN" ]; then
    echo "gregor binary not found at $BIN" >&2
    exit 1
fi
export GREGOR_BIN="$BIN"

log "pytest protocol-tests"
start=$(date +%s)
set +e
"$VENV/bin/python" -m pytest "$HERE" --timeout=300 "$@"
rc=$?
set -e
echo "protocol suite took $(( $(date +%s) - start ))s (pytest exit code $rc)"
exit "$rc"
