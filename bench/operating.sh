#!/usr/bin/env bash
# What watching the service costs: the same read and write loads against a
# server without metrics and per-call log lines (`--log-level warn`, as in
# bench/run.sh), with `--metrics-listen` (scraped every second, as a busy
# Prometheus would), and at the default `--log-level info` (one line per
# call, text and JSON, written to a file). Raw output in bench/results/.
#
#   bench/operating.sh [NAME]     # DURATION=10s by default
set -euo pipefail
NAME=${1:-operating-$(date +%Y%m%d-%H%M%S)}
METRICS_PORT=${METRICS_PORT:-50072}
source "$(dirname "$0")/lib.sh"
$BIN/loadgen seed --db "$WORK/small100.db" --budget-rows 10000 --responses 1000 --jobs 100

SCRAPER_PID=
serve() { # [serve flags...]
  start "$(fresh small100.db)" "$@"
}
scrape_every_second() {
  (while sleep 1; do curl -s -o /dev/null "http://127.0.0.1:$METRICS_PORT/metrics" || true; done) &
  SCRAPER_PID=$!
}
report() {
  [ -n "$SCRAPER_PID" ] && kill "$SCRAPER_PID" && SCRAPER_PID=
  stop
  echo "# server log: $(wc -l < "$WORK/server.log") lines, $(du -h "$WORK/server.log" | cut -f1)"
}
phases() { # label
  for rpc in GetExplorationBudget UpdateExplorationBudget; do
    load "$1" --rpc $rpc --jobs 100
  done
}

echo; echo "## No metrics, no per-call lines (--log-level warn)"
serve --log-level warn; phases "quiet"; report
echo; echo "## Metrics on, scraped every second (--log-level warn)"
serve --log-level warn --metrics-listen 127.0.0.1:$METRICS_PORT; scrape_every_second; phases "metrics"; report
echo; echo "## One text line per call (--log-level info, the default)"
serve --log-level info; phases "log-text"; report
echo; echo "## One JSON line per call (--log-level info --log-format json)"
serve --log-level info --log-format json; phases "log-json"; report

summary
