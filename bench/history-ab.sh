#!/usr/bin/env bash
# GetExplorationBudgetHistory (limit 50) on two server builds, alternately,
# on copies of one seeded 1k-row file: the cost of the tolerant row readers
# (src/store/sqlite/cells.rs) against the build before them.
#
#   BASE=path/to/old/learning-service bench/history-ab.sh [NAME]
#
# NEW defaults to target/release/learning-service; ROUNDS=3, DURATION=10s.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:-history-ab-$(date +%Y%m%d-%H%M%S)}
BASE=${BASE:?set BASE to the server binary to compare with}
NEW=${NEW:-target/release/learning-service}
LOADGEN=${LOADGEN:-target/release/loadgen}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
PORT=${PORT:-50072}
WORK=$(mktemp -d /tmp/learning-history-ab.XXXXXX)
OUT=bench/results/$NAME.txt
mkdir -p bench/results
exec > >(tee "$OUT") 2>&1

echo "# $NAME: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD)"
echo "# machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); loadgen and server on the same machine"
echo "# base: $BASE ($(sha256sum "$BASE" | cut -c1-12)), new: $NEW ($(sha256sum "$NEW" | cut -c1-12))"
"$LOADGEN" seed --db "$WORK/seed.db" --budget-rows 1000 --responses 10 --jobs 1

run() { # label binary
  rm -f "$WORK/run.db"*
  cp "$WORK/seed.db" "$WORK/run.db"
  "$2" serve --db "$WORK/run.db" --listen 127.0.0.1:$PORT --log-level warn 2> "$WORK/server.log" &
  local pid=$!
  for _ in $(seq 100); do
    if "$LOADGEN" --server http://127.0.0.1:$PORT --rpc Check --no-ceiling --duration 10ms \
      --warmup 0s --concurrency 1 > /dev/null 2>&1; then break; fi
    sleep 0.1
  done
  echo
  "$LOADGEN" --server http://127.0.0.1:$PORT --rpc GetExplorationBudgetHistory --jobs 1 \
    --duration "$DURATION" --connections 4 --server-pid "$pid" --label "$1"
  kill -TERM "$pid"; wait "$pid" || true
}

for round in $(seq "$ROUNDS"); do
  run "base-$round" "$BASE"
  run "new-$round" "$NEW"
done
rm -rf "$WORK"
