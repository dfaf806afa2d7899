#!/usr/bin/env bash
# Policy replay benchmark (release build, fresh database): 10,000 adjustments
# recorded on one job through CalculateBudgetAdjustment, then one
# ReplayBudgetPolicy call with a sweep of 20 candidates (summaries only),
# repeated, and one with every step of 4 candidates; then the CLI's table for
# the same sweep. Extra arguments go to replay-bench. Results:
# bench/results/replay.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin learning-service --bin replay-bench
dir=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
target/release/learning-service serve --db "$dir/bench.db" --listen 127.0.0.1:50073 \
  --log-level warn &
server=$!
sleep 1
candidates=()
for threshold in 0.2 0.3 0.4 0.5; do
  for decay in 0.8 0.85 0.9 0.95 0.99; do
    candidates+=(--candidate "threshold=$threshold,decay=$decay")
  done
done
{
  echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), server and client on the same machine, commit $(git rev-parse --short HEAD)"
  echo "# bench/replay.sh $*"
  target/release/replay-bench --server http://127.0.0.1:50073 "$@"
  echo "# the CLI, the same 20 candidates, summaries only (wall time of the whole command, 5 runs):"
  for _ in 1 2 3 4 5; do
    start=$(date +%s%N)
    target/release/learning-service replay --server 127.0.0.1:50073 --job replay-bench \
      --summaries-only "${candidates[@]}" >"$dir/table.txt"
    echo "cli: $(( ($(date +%s%N) - start) / 1000000 )) ms"
  done
  head -n 8 "$dir/table.txt"
  echo "  ..."
  echo "# server RSS after the runs: $(grep VmRSS /proc/$server/status | awk '{print $2, $3}')"
} | tee bench/results/replay.txt
