#!/usr/bin/env bash
# A/B of the produce path between two gregor binaries on this machine, same
# run, alternating: librdkafka produce and the raw engine, 100 B and 1 KiB.
# Prints one line per workload with records/s and the broker's CPU seconds.
#
#   benches/ab-produce.sh OLD_BINARY NEW_BINARY [ROUNDS] [SECONDS]
#
# Needs benches/load built (cargo build --release in benches/load). Traffic
# stays on 127.0.0.1; each broker runs on a fresh temp data dir.
set -euo pipefail
A=$1; B=$2; ROUNDS=${3:-2}; SECONDS_EACH=${4:-8}
HERE="$(cd "$(dirname "$0")" && pwd)"
LOAD="$HERE/load/target/release/gregor-load"
TICKS=$(getconf CLK_TCK)
for round in $(seq "$ROUNDS"); do
  for name in A B; do
    if [ "$name" = A ]; then bin=$A; else bin=$B; fi
    dir=$(mktemp -d); port=$((19000 + RANDOM % 1000))
    "$bin" --data-dir "$dir" --override "listeners=PLAINTEXT://127.0.0.1:$port" \
      --override "advertised.listeners=PLAINTEXT://127.0.0.1:$port" > "$dir.log" 2>&1 &
    pid=$!; sleep 1
    for args in "produce --record-size 100" "produce --record-size 1024" \
                "raw-produce --record-size 100" "raw-produce --record-size 1024"; do
      t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
      out=$("$LOAD" --bootstrap "127.0.0.1:$port" $args --seconds "$SECONDS_EACH" 2>/dev/null | tail -1)
      t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
      cpu=$(awk -v t=$((t1 - t0)) -v hz="$TICKS" 'BEGIN { printf "%.2f", t / hz }')
      echo "round $round $name [$args] broker_cpu_s=$cpu :: ${out#*: }"
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true; rm -rf "$dir" "$dir.log"
  done
done
