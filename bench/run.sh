#!/usr/bin/env bash
# Runs every benchmark scenario of BENCHMARKS.md against the release server,
# each on a server of its own, and writes the raw output to bench/results/.
#
#   bench/run.sh [NAME]        # NAME defaults to run-<date>; DURATION=10s by default
#
# The server and the load generator share this machine (and its cores).
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:-run-$(date +%Y%m%d-%H%M%S)}
DURATION=${DURATION:-10s}
WORK=${WORK:-$(mktemp -d /tmp/learning-bench.XXXXXX)}
OUT=bench/results/$NAME.txt
PORT=${PORT:-50071}
CONNECTIONS=${CONNECTIONS:-4}
SERVER=http://127.0.0.1:$PORT

cargo build --release --quiet --bin learning-service --bin loadgen
BIN=target/release
mkdir -p bench/results
exec > >(tee "$OUT") 2>&1

echo "# $NAME: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD)"
echo "# machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "# duration per phase: $DURATION, $CONNECTIONS HTTP/2 connections; loadgen and server on the same machine"

# Seeded files: history for the read and size runs, patterns for entropy.
$BIN/loadgen seed --db "$WORK/small.db" --budget-rows 1000 --responses 1000 --jobs 1
$BIN/loadgen seed --db "$WORK/large.db" --budget-rows 1000000 --responses 1000000 --jobs 1
$BIN/loadgen seed --db "$WORK/small100.db" --budget-rows 10000 --responses 1000 --jobs 100
$BIN/loadgen seed --db "$WORK/entropy.db" --patterns 10000 --applications 1000000

SERVER_PID=
start() { # db-file [serve flags...]
  local db=$1; shift
  $BIN/learning-service serve --db "$db" --listen 127.0.0.1:$PORT --log-level warn "$@" \
    2> "$WORK/server.log" &
  SERVER_PID=$!
  for _ in $(seq 100); do
    if $BIN/loadgen --server $SERVER --rpc Check --no-ceiling --duration 10ms --warmup 0s \
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
  $BIN/loadgen --server $SERVER --duration "$DURATION" --connections "$CONNECTIONS" \
    --server-pid "$SERVER_PID" --label "$label" "$@"
}
fresh() { # copy of a seeded file, so that each write run starts from the same state
  rm -f "$WORK/run.db"*; cp "$WORK/$1" "$WORK/run.db"; echo "$WORK/run.db"
}

echo; echo "## Writes, durable (--durability full, the default)"
for rpc in UpdateExplorationBudget CalculateBudgetAdjustment; do
  for jobs in 1 100; do
    start "$(fresh small100.db)"; load "write-full" --rpc $rpc --jobs $jobs; stop
  done
done

echo; echo "## Writes, --durability normal (for comparison)"
for rpc in UpdateExplorationBudget CalculateBudgetAdjustment; do
  start "$(fresh small100.db)" --durability normal; load "write-normal" --rpc $rpc --jobs 1; stop
done

echo; echo "## Reads, 1k rows"
start "$(fresh small.db)"
for rpc in GetExplorationBudget GetExplorationBudgetHistory GetExplorationBudgetStatistics GetEntropyResponseStatistics; do
  load "read-1k" --rpc $rpc --jobs 1
done
stop

echo; echo "## Reads, 1M rows (same job, same RPCs)"
start "$WORK/large.db"
for rpc in GetExplorationBudget GetExplorationBudgetHistory GetExplorationBudgetStatistics GetEntropyResponseStatistics; do
  load "read-1m" --rpc $rpc --jobs 1
done
stop

echo; echo "## Entropy, 10,000 patterns and 1M applications"
start "$WORK/entropy.db"
for rpc in CalculatePatternEntropy CheckEntropyResponseNeeded; do
  load "entropy-latency" --rpc $rpc --concurrency 1 --no-ceiling
  load "entropy-64" --rpc $rpc
done
stop

echo; echo "## Entropy while applications are recorded (the cached entropy is recomputed after each)"
start "$(fresh entropy.db)"
SECONDS_PER_PHASE=${DURATION%s}
[[ $SECONDS_PER_PHASE =~ ^[0-9]+$ ]] || SECONDS_PER_PHASE=10
# Long enough to cover both measured phases and their warm-ups.
$BIN/loadgen --server $SERVER --rpc RecordPatternApplication --concurrency 4 --connections 1 \
  --duration $((2 * SECONDS_PER_PHASE + 6))s --no-ceiling --label "entropy-churn-writes" > "$WORK/churn.txt" &
CHURN_PID=$!
sleep 2
load "entropy-churn-latency" --rpc CalculatePatternEntropy --concurrency 1 --no-ceiling
load "entropy-churn-64" --rpc CalculatePatternEntropy --no-ceiling
wait "$CHURN_PID"; echo; cat "$WORK/churn.txt"
stop

echo; echo "## Mix over 100 jobs (one call in three writes)"
start "$(fresh small100.db)"; load "mix" --rpc mix --jobs 100; stop

echo; echo "## Summary"
grep '^RESULT' "$OUT" | sed 's/^RESULT //'
rm -rf "$WORK"
