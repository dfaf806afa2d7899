#!/usr/bin/env bash
# Entropy while applications are recorded (issue #18), on two server builds
# alternately: at 10,000 patterns and 1M applications, one caller records
# RATE applications/s (RecordPatternApplication, paced) while
# CalculatePatternEntropy (1 and 64 callers) and CheckEntropyResponseNeeded
# (64 callers) are measured; then RecordPatternApplication alone, unpaced
# (4 and 64 callers), for the cost of the triggers on writes. Tool: loadgen.
#
#   BASE=path/to/old/learning-service bench/entropy-churn.sh [NAME]
#
# NEW defaults to target/release/learning-service, LOADGEN to
# target/release/loadgen (both builds are driven by the same loadgen);
# ROUNDS=3, DURATION=10s, RATE=3000, SPREAD=1 (patterns the writer applies).
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:-entropy-churn-$(date +%Y%m%d-%H%M%S)}
BASE=${BASE:?set BASE to the server binary to compare with}
NEW=${NEW:-target/release/learning-service}
LOADGEN=${LOADGEN:-target/release/loadgen}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
RATE=${RATE:-3000}
SPREAD=${SPREAD:-1}
PORT=${PORT:-50073}
SERVER=http://127.0.0.1:$PORT
WORK=$(mktemp -d /tmp/learning-entropy-churn.XXXXXX)
OUT=bench/results/$NAME.txt
mkdir -p bench/results
exec > >(tee "$OUT") 2>&1

echo "# $NAME: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD)"
echo "# machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/Mem:/ {print $2}') GiB; loadgen and server on the same machine"
echo "# base: $BASE ($(sha256sum "$BASE" | cut -c1-12)), new: $NEW ($(sha256sum "$NEW" | cut -c1-12))"
echo "# duration per phase: $DURATION; writer: $RATE applications/s over $SPREAD pattern(s)"
"$LOADGEN" seed --db "$WORK/seed.db" --patterns 10000 --applications 1000000
SECONDS_PER_PHASE=${DURATION%s}
[[ $SECONDS_PER_PHASE =~ ^[0-9]+$ ]] || SECONDS_PER_PHASE=10

start() { # binary: a server on a fresh copy of the seeded file
  rm -f "$WORK/run.db"*
  cp "$WORK/seed.db" "$WORK/run.db"
  "$1" serve --db "$WORK/run.db" --listen 127.0.0.1:$PORT --log-level warn 2> "$WORK/server.log" &
  SERVER_PID=$!
  # An older build rebuilds the aggregates of the file at open (1M rows).
  for _ in $(seq 600); do
    if "$LOADGEN" --server $SERVER --rpc Check --no-ceiling --duration 10ms --warmup 0s \
      --concurrency 1 > /dev/null 2>&1; then return; fi
    sleep 0.1
  done
  echo "server did not start"; cat "$WORK/server.log"; exit 1
}
stop() {
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true
}
load() { # label [loadgen flags...]
  local label=$1; shift
  echo
  "$LOADGEN" --server $SERVER --duration "$DURATION" --connections 4 \
    --server-pid "$SERVER_PID" --label "$label" --no-ceiling "$@"
}

run() { # name binary
  echo; echo "## $1: $2 (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  start "$2"
  # Covers the three measured phases and their 1 s warm-ups.
  "$LOADGEN" --server $SERVER --rpc RecordPatternApplication --concurrency 4 --connections 1 \
    --rate "$RATE" --patterns "$SPREAD" --duration $((3 * SECONDS_PER_PHASE + 5))s --warmup 0s \
    --no-ceiling --label "$1-churn-writes" > "$WORK/churn.txt" &
  local churn=$!
  sleep 1
  load "$1-churn-latency" --rpc CalculatePatternEntropy --concurrency 1
  load "$1-churn-64" --rpc CalculatePatternEntropy --concurrency 64
  load "$1-churn-check-64" --rpc CheckEntropyResponseNeeded --concurrency 64
  wait "$churn"; echo; cat "$WORK/churn.txt"
  stop
  start "$2"
  load "$1-writes-4" --rpc RecordPatternApplication --concurrency 4 --connections 1
  load "$1-writes-64" --rpc RecordPatternApplication --concurrency 64
  stop
}

for round in $(seq "$ROUNDS"); do
  run "base-$round" "$BASE"
  run "new-$round" "$NEW"
done
echo; echo "## Summary (load average $(cut -d' ' -f1-3 /proc/loadavg))"
grep '^RESULT' "$OUT" | sed 's/^RESULT //'
rm -rf "$WORK"
