#!/usr/bin/env bash
# What a retention purge costs the requests running beside it: the read and
# write scenarios over 100 jobs on a file of 1M old budget rows, on a server
# without retention, then on one whose `--retain-days 30` purge of those rows
# runs (it starts with the server). Twice, interleaved, since the machine is
# shared. Each phase says how many rows the purge had deleted before and
# after it, to show that the purge ran throughout. Raw output in bench/results/.
#
#   bench/retention.sh [NAME]     # DURATION=10s by default
set -euo pipefail
NAME=${1:-retention-$(date +%Y%m%d-%H%M%S)}
METRICS_PORT=${METRICS_PORT:-50072}
source "$(dirname "$0")/lib.sh"
# Rows from 2025-01-01: all older than 30 days.
$BIN/loadgen seed --db "$WORK/old1m.db" --budget-rows 1000000 --jobs 100

deleted() {
  curl -s "http://127.0.0.1:$METRICS_PORT/metrics" |
    awk '/^learning_retention_deleted_rows_total\{history="budget"\}/ {print $2}'
}
phases() { # label
  for rpc in GetExplorationBudget UpdateExplorationBudget; do
    echo "# purge had deleted before the phase: $(deleted)"
    load "$1" --rpc $rpc --jobs 100 --no-ceiling
    echo "# purge had deleted after the phase: $(deleted)"
  done
}
for round in 1 2; do
  echo; echo "## Round $round: no retention"
  start "$(fresh old1m.db)" --log-level warn --metrics-listen 127.0.0.1:$METRICS_PORT
  phases "steady"; stop
  echo; echo "## Round $round: --retain-days 30, purging 1M rows"
  start "$(fresh old1m.db)" --log-level warn --metrics-listen 127.0.0.1:$METRICS_PORT \
    --retain-days 30
  purge_started=$SECONDS
  phases "purging"
  # Done when the count stops moving (the writes above gave every job a newer row).
  last=-1
  while [ "$(deleted)" != "$last" ]; do last=$(deleted); sleep 3; done
  echo "# purge: $(deleted) rows deleted in about $((SECONDS - purge_started)) s from the server's start"
  stop
done
summary
