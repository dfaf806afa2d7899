#!/usr/bin/env bash
# Diversity readings with a window (issue 16): what a windowed entropy costs
# next to the all-time one, over 10,000 patterns and 1M applications spread
# over the last 7 days (so the 7-day window sums the most buckets there are),
# against the release server. Raw output: bench/results/<NAME>.txt.
#
#   bench/diversity.sh [NAME]        # NAME defaults to diversity-<date>; DURATION=10s
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:-diversity-$(date +%Y%m%d-%H%M%S)}
DURATION=${DURATION:-10s}
WORK=$(mktemp -d /tmp/learning-bench-diversity.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
OUT=bench/results/$NAME.txt
PORT=${PORT:-50073}
SERVER=http://127.0.0.1:$PORT

cargo build --release --quiet --bin learning-service --bin loadgen
BIN=target/release
mkdir -p bench/results
exec > >(tee "$OUT") 2>&1

echo "# $NAME: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD)"
echo "# machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "# duration per phase: $DURATION; loadgen and server on the same machine"

$BIN/loadgen seed --db "$WORK/entropy.db" --patterns 10000 --applications 1000000 \
  --applications-within 7d
sqlite3_rows() { # table
  python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM ' + sys.argv[2]).fetchone()[0])" "$WORK/entropy.db" "$1"
}
echo "bucket rows: $(sqlite3_rows ls_application_minutes) per minute, $(sqlite3_rows ls_application_hours) per hour"

$BIN/learning-service serve --db "$WORK/entropy.db" --listen 127.0.0.1:$PORT --log-level warn \
  2> "$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 100); do
  if $BIN/loadgen --server $SERVER --rpc Check --no-ceiling --duration 10ms --warmup 0s \
    --concurrency 1 > /dev/null 2>&1; then break; fi
  sleep 0.1
done
load() { # label [loadgen flags...]
  local label=$1; shift
  echo
  $BIN/loadgen --server $SERVER --duration "$DURATION" --server-pid "$SERVER_PID" \
    --no-ceiling --label "$label" "$@"
}
for window in "" 1h 1d 7d; do
  flags=(); label=all-time
  if [[ -n $window ]]; then flags=(--window "$window"); label=window-$window; fi
  load "entropy-$label-latency" --rpc CalculatePatternEntropy --concurrency 1 "${flags[@]}"
  load "entropy-$label-64" --rpc CalculatePatternEntropy --concurrency 64 "${flags[@]}"
done
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true
echo; echo "## Summary"
grep '^RESULT' "$OUT" || true
