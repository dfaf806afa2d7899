#!/usr/bin/env bash
# What watching the service costs: the same read and write loads against a
# server without metrics and per-call log lines (`--log-level warn`, as in
# bench/run.sh), with `--metrics-listen` (scraped every second, as a busy
# Prometheus would), and at the default `--log-level info` (one line per
# call, text and JSON, written to a file). Raw output in bench/results/.
#
#   bench/operating.sh [NAME]     # DURATION=10s by default
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:-operating-$(date +%Y%m%d-%H%M%S)}
DURATION=${DURATION:-10s}
WORK=$(mktemp -d /tmp/learning-bench.XXXXXX)
OUT=bench/results/$NAME.txt
PORT=${PORT:-50071}
METRICS_PORT=${METRICS_PORT:-50072}
CONNECTIONS=${CONNECTIONS:-4}
SERVER=http://127.0.0.1:$PORT

cargo build --release --quiet --bin learning-service --bin loadgen
BIN=target/release
mkdir -p bench/results
exec > >(tee "$OUT") 2>&1
echo "# $NAME: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD)"
echo "# machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "# duration per phase: $DURATION, $CONNECTIONS HTTP/2 connections; loadgen and server on the same machine"
$BIN/loadgen seed --db "$WORK/small100.db" --budget-rows 10000 --responses 1000 --jobs 100

SERVER_PID= SCRAPER_PID=
start() { # [serve flags...]
  rm -f "$WORK/run.db"*; cp "$WORK/small100.db" "$WORK/run.db"
  $BIN/learning-service serve --db "$WORK/run.db" --listen 127.0.0.1:$PORT "$@" 2> "$WORK/server.log" &
  SERVER_PID=$!
  for _ in $(seq 100); do
    if $BIN/loadgen --server $SERVER --rpc Check --no-ceiling --duration 10ms --warmup 0s \
      --concurrency 1 > /dev/null 2>&1; then return; fi
    sleep 0.1
  done
  echo "server did not start"; cat "$WORK/server.log"; exit 1
}
scrape_every_second() {
  (while sleep 1; do curl -s -o /dev/null "http://127.0.0.1:$METRICS_PORT/metrics" || true; done) &
  SCRAPER_PID=$!
}
stop() {
  [ -n "$SCRAPER_PID" ] && kill "$SCRAPER_PID" && SCRAPER_PID=
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true
  echo "# server log: $(wc -l < "$WORK/server.log") lines, $(du -h "$WORK/server.log" | cut -f1)"
}
load() { # label
  for rpc in GetExplorationBudget UpdateExplorationBudget; do
    echo
    $BIN/loadgen --server $SERVER --duration "$DURATION" --connections "$CONNECTIONS" \
      --server-pid "$SERVER_PID" --label "$1" --rpc $rpc --jobs 100
  done
}

echo; echo "## No metrics, no per-call lines (--log-level warn)"
start --log-level warn; load "quiet"; stop
echo; echo "## Metrics on, scraped every second (--log-level warn)"
start --log-level warn --metrics-listen 127.0.0.1:$METRICS_PORT; scrape_every_second; load "metrics"; stop
echo; echo "## One text line per call (--log-level info, the default)"
start --log-level info; load "log-text"; stop
echo; echo "## One JSON line per call (--log-level info --log-format json)"
start --log-level info --log-format json; load "log-json"; stop

echo; echo "## Summary"
grep '^RESULT' "$OUT" | sed 's/^RESULT //'
rm -rf "$WORK"
