#!/usr/bin/env bash
# Streams benchmark: 1,000 subscribers on one server (release build, fresh
# database). Extra arguments go to stream-bench. Results: bench/results/streams.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins
dir=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
ulimit -n 65536 2>/dev/null || true
target/release/learning-service serve --db "$dir/bench.db" --listen 127.0.0.1:50071 \
  --log-level warn --max-subscribers 4096 &
server=$!
sleep 1
{
  echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), server and client on the same machine"
  echo "# bench/streams.sh $*"
  target/release/stream-bench --server http://127.0.0.1:50071 --server-pid "$server" "$@"
} | tee bench/results/streams.txt
