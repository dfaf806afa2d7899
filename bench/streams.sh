#!/usr/bin/env bash
# Streams benchmark (src/bin/stream-bench.rs): 10,000 SubscribePatternEntropy
# subscribers over 20 HTTP/2 connections on one release server with a fresh
# database, 200 snapshots. Extra arguments go to stream-bench (e.g.
# `--subscribers 1000 --connections 10`).
#
# The server gets the limits this needs, above their defaults: 10,240
# subscribers (--max-subscribers, default 2,048), 12,288 calls in progress
# (--max-calls, default 4,096) and 1,024 streams per connection
# (--max-concurrent-streams, default 200), and 65,536 open files.
#
# SERVER_BIN=path runs another server build (e.g. an older commit's) with the
# same client. Results: bench/results/streams.txt (or $OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins
server_bin=${SERVER_BIN:-target/release/learning-service}
out=${OUT:-bench/results/streams.txt}
dir=$(mktemp -d)
server=
trap 'if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi; rm -rf "$dir"' EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
"$server_bin" serve --db "$dir/bench.db" --listen 127.0.0.1:50071 --log-level warn \
  --max-subscribers 10240 --max-calls 12288 --max-concurrent-streams 1024 &
server=$!
sleep 1
mkdir -p "$(dirname "$out")"
{
  echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), server and client on the same machine"
  echo "# bench/streams.sh $*, server ${SERVER_BIN:-target/release/learning-service at $(git rev-parse --short HEAD)}"
  echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  TIMEFORMAT='stream-bench CPU:          %U s user, %S s system (%R s elapsed)'
  { time target/release/stream-bench --server http://127.0.0.1:50071 --server-pid "$server" \
    --subscribers 10000 --connections 20 "$@"; } 2>&1
  echo "server CPU:               $(awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f s user+system", ($14 + $15) / hz}' "/proc/$server/stat") (start-up included)"
  echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out"
