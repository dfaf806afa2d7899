#!/usr/bin/env bash
# Runs every benchmark scenario of BENCHMARKS.md against the release server,
# each on a server of its own, and writes the raw output to bench/results/.
#
#   bench/run.sh [NAME]        # NAME defaults to run-<date>; DURATION=10s by default
#
# The server and the load generator share this machine (and its cores).
set -euo pipefail
NAME=${1:-run-$(date +%Y%m%d-%H%M%S)}
source "$(dirname "$0")/lib.sh"

# Seeded files: history for the read and size runs, patterns for entropy.
$BIN/loadgen seed --db "$WORK/small.db" --budget-rows 1000 --responses 1000 --jobs 1
$BIN/loadgen seed --db "$WORK/large.db" --budget-rows 1000000 --responses 1000000 --jobs 1
$BIN/loadgen seed --db "$WORK/small100.db" --budget-rows 10000 --responses 1000 --jobs 100
$BIN/loadgen seed --db "$WORK/entropy.db" --patterns 10000 --applications 1000000

# The measured server logs warnings only: no line per call.
serve() { start "$@" --log-level warn; }

echo; echo "## Writes, durable (--durability full, the default)"
for rpc in UpdateExplorationBudget CalculateBudgetAdjustment; do
  for jobs in 1 100; do
    serve "$(fresh small100.db)"; load "write-full" --rpc $rpc --jobs $jobs; stop
  done
done

echo; echo "## Writes, --durability normal (for comparison)"
for rpc in UpdateExplorationBudget CalculateBudgetAdjustment; do
  serve "$(fresh small100.db)" --durability normal; load "write-normal" --rpc $rpc --jobs 1; stop
done

echo; echo "## Reads, 1k rows"
serve "$(fresh small.db)"
for rpc in GetExplorationBudget GetExplorationBudgetHistory GetExplorationBudgetStatistics GetEntropyResponseStatistics; do
  load "read-1k" --rpc $rpc --jobs 1
done
stop

echo; echo "## Reads, 1M rows (same job, same RPCs)"
serve "$WORK/large.db"
for rpc in GetExplorationBudget GetExplorationBudgetHistory GetExplorationBudgetStatistics GetEntropyResponseStatistics; do
  load "read-1m" --rpc $rpc --jobs 1
done
stop

echo; echo "## Entropy, 10,000 patterns and 1M applications"
serve "$WORK/entropy.db"
for rpc in CalculatePatternEntropy CheckEntropyResponseNeeded; do
  load "entropy-latency" --rpc $rpc --concurrency 1 --no-ceiling
  load "entropy-64" --rpc $rpc
done
stop

echo; echo "## Entropy while applications are recorded (${CHURN_RATE:=3000}/s; the cache applies each change)"
serve "$(fresh entropy.db)"
SECONDS_PER_PHASE=${DURATION%s}
[[ $SECONDS_PER_PHASE =~ ^[0-9]+$ ]] || SECONDS_PER_PHASE=10
# Long enough to cover the three measured phases and their warm-ups.
$BIN/loadgen --server $SERVER --rpc RecordPatternApplication --concurrency 16 --connections 1 \
  --rate "$CHURN_RATE" --duration $((3 * SECONDS_PER_PHASE + 8))s --no-ceiling \
  --label "entropy-churn-writes" > "$WORK/churn.txt" &
CHURN_PID=$!
sleep 2
load "entropy-churn-latency" --rpc CalculatePatternEntropy --concurrency 1 --no-ceiling
load "entropy-churn-64" --rpc CalculatePatternEntropy --no-ceiling
load "entropy-churn-check-64" --rpc CheckEntropyResponseNeeded --no-ceiling
wait "$CHURN_PID"; echo; cat "$WORK/churn.txt"
stop

echo; echo "## Mix over 100 jobs (one call in three writes)"
serve "$(fresh small100.db)"; load "mix" --rpc mix --jobs 100; stop

summary
