#!/usr/bin/env bash
# Entropy while applications are recorded (issue #18), on two server builds
# alternately: at 10,000 patterns and 1M applications, a writer (16 callers) records
# RATE applications/s (RecordPatternApplication, paced) while
# CalculatePatternEntropy (1 and 64 callers), CheckEntropyResponseNeeded
# (64 callers) and, as the floor, grpc.health.v1 Check (64) are measured; then RecordPatternApplication alone, unpaced
# (4 and 64 callers), for the cost of the triggers on writes. Tool: loadgen
# (this tree's, for both builds).
#
#   BASE=path/to/old/learning-service bench/entropy-churn.sh [NAME]
#
# NEW defaults to target/release/learning-service; ROUNDS=3, DURATION=10s,
# RATE=3000, SPREAD=1 (patterns the writer applies, round robin).
set -euo pipefail
NAME=${1:-entropy-churn-$(date +%Y%m%d-%H%M%S)}
BASE=${BASE:?set BASE to the server binary to compare with}
PORT=${PORT:-50073}
source "$(dirname "$0")/lib.sh"
NEW=${NEW:-$BIN/learning-service}
ROUNDS=${ROUNDS:-3}
RATE=${RATE:-3000}
SPREAD=${SPREAD:-1}
echo "# base: $BASE ($(sha256sum "$BASE" | cut -c1-12)), new: $NEW ($(sha256sum "$NEW" | cut -c1-12))"
echo "# writer: $RATE applications/s over $SPREAD pattern(s)"
$BIN/loadgen seed --db "$WORK/entropy.db" --patterns 10000 --applications 1000000
SECONDS_PER_PHASE=${DURATION%s}
[[ $SECONDS_PER_PHASE =~ ^[0-9]+$ ]] || SECONDS_PER_PHASE=10

run() { # name binary
  echo; echo "## $1: $2 (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  SERVER_BIN=$2
  start "$(fresh entropy.db)" --log-level warn
  # Covers the four measured phases and their 1 s warm-ups.
  $BIN/loadgen --server $SERVER --rpc RecordPatternApplication --concurrency 16 --connections 1 \
    --rate "$RATE" --patterns "$SPREAD" --duration $((4 * SECONDS_PER_PHASE + 7))s --warmup 0s \
    --no-ceiling --label "$1-churn-writes" > "$WORK/churn.txt" &
  local churn=$!
  sleep 1
  load "$1-churn-latency" --rpc CalculatePatternEntropy --concurrency 1 --no-ceiling
  load "$1-churn-64" --rpc CalculatePatternEntropy --concurrency 64 --no-ceiling
  load "$1-churn-check-64" --rpc CheckEntropyResponseNeeded --concurrency 64 --no-ceiling
  # The floor under the same load: grpc.health.v1 Check, which reads nothing.
  load "$1-churn-ceiling-64" --rpc Check --concurrency 64 --no-ceiling
  wait "$churn"; echo; cat "$WORK/churn.txt"
  stop
  start "$(fresh entropy.db)" --log-level warn
  load "$1-writes-4" --rpc RecordPatternApplication --concurrency 4 --no-ceiling
  load "$1-writes-64" --rpc RecordPatternApplication --concurrency 64 --no-ceiling
  stop
}

for round in $(seq "$ROUNDS"); do
  run "base-$round" "$BASE"
  run "new-$round" "$NEW"
done
echo; echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
summary
