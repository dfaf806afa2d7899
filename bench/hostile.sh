#!/usr/bin/env bash
# Hostile clients against a release server, one fresh server and database per
# scenario (src/bin/hostile-bench.rs): the server's memory before and after,
# and whether health still answers.
#
#   stalled-watches   2,048 WatchExplorationBudget streams, backfill 1000 over
#                     1,000 records with 4,000-byte reasons, never read
#   idle-streams      500 connections x 201 calls that never send a body
#   idle-connections  2,000 TCP connections that never send a byte, against a
#                     server whose open-file limit is 1,024 (soft and hard)
#
# SERVER_BIN=path runs another server build (e.g. an older commit's) with the
# same client. Results: bench/results/hostile.txt (or $OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins
server_bin=${SERVER_BIN:-target/release/learning-service}
out=${OUT:-bench/results/hostile.txt}
port=50073
dir=$(mktemp -d)
server=
trap 'if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi; rm -rf "$dir"' EXIT

# run NAME OPEN_FILES SCENARIO-ARGS...
run() {
  local name=$1 files=$2
  shift 2
  rm -f "$dir"/bench.db*
  # (Raising the hard limit needs privileges: fall back to the hard limit.)
  (ulimit -n "$files" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    exec "$server_bin" serve --db "$dir/bench.db" --listen "127.0.0.1:$port" \
    --log-level error --max-subscribers 4096) &
  server=$!
  sleep 1
  echo "## $name"
  target/release/hostile-bench --server "http://127.0.0.1:$port" --server-pid "$server" "$@" ||
    echo "(client failed: exit $?)"
  if kill -0 "$server" 2>/dev/null; then
    kill "$server"
    wait "$server" 2>/dev/null || true
  else
    echo "(the server had exited)"
  fi
  server=
  echo
}

{
  echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), server and client on the same machine"
  echo "# bench/hostile.sh, server ${SERVER_BIN:-target/release/learning-service at $(git rev-parse --short HEAD)}"
  echo
  run stalled-watches 65536 stalled-watches --watches 2048 --backfill 1000 --records 1000 --reason-bytes 4000
  run idle-streams 65536 idle-streams --connections 500 --streams 201
  run idle-connections 1024 idle-connections --count 2000 --wait 30s
} | tee "$out"
