#!/usr/bin/env bash
# The read scenarios of BENCHMARKS.md ("Reads, 1k rows" and "Reads, 1M
# rows"), two builds side by side in one session: for each round, each build
# serves the same seeded file and every read RPC is measured with h2load
# (pre-encoded gRPC frames, nothing decoded) and with loadgen, beside
# grpc.health.v1.Health/Check measured the same way as the ceiling.
#
#   bench/reads-ab.sh NAME BIN_A BIN_B     # BIN_* are directories with learning-service and loadgen
#
# ROUNDS (default 3), DURATION (seconds per phase, default 5), ROWS (1000),
# TOOLS ("h2load loadgen"), FLAGS_A and FLAGS_B (extra serve flags of each
# build, e.g. "--http2-keepalive-interval 0s"). Server and load tool share the
# machine's cores.
set -euo pipefail
NAME=$1 A=$2 B=$3
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-5} ROWS=${ROWS:-1000} TOOLS=${TOOLS:-h2load loadgen}
PORT=${PORT:-50073}
cd "$(dirname "$0")/.."
command -v h2load > /dev/null || { apt-get install -y nghttp2-client > /dev/null; }
WORK=$(mktemp -d /tmp/reads-ab.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p bench/results
OUT=bench/results/$NAME.txt
exec > >(tee "$OUT") 2>&1
echo "# $NAME: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD)"
echo "# A=$A ($(cat "$A/.commit" 2>/dev/null || echo ?)) ${FLAGS_A:-} B=$B ($(cat "$B/.commit" 2>/dev/null || echo ?)) ${FLAGS_B:-}"
echo "# machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); $ROWS rows, one job; ${DURATION}s per phase"
echo "# h2load -c 4 -m 16 -t 1, headers content-type: application/grpc, te: trailers; loadgen 4 connections, its default concurrency"

# gRPC frames: a zero flag byte, the length (4 bytes, big endian), the message.
python3 - "$WORK" <<'PY'
import struct, sys
def frame(msg): return b"\0" + struct.pack(">I", len(msg)) + msg
job = b"\x0a\x05job-0"  # field 1 (job_hash), "job-0"
frames = {
    "Check": b"",
    "GetExplorationBudget": job,
    "GetExplorationBudgetHistory": job + b"\x10\x32",  # limit (field 2) = 50
    "GetExplorationBudgetStatistics": job,
    "GetEntropyResponseStatistics": job,
}
for name, msg in frames.items():
    open(f"{sys.argv[1]}/{name}.bin", "wb").write(frame(msg))
PY
path() {
  case $1 in
    Check) echo grpc.health.v1.Health/Check ;;
    GetEntropyResponseStatistics) echo learning.v1.EntropyService/$1 ;;
    *) echo learning.v1.BudgetService/$1 ;;
  esac
}
RPCS="Check GetExplorationBudget GetExplorationBudgetHistory GetExplorationBudgetStatistics GetEntropyResponseStatistics"

"$A/loadgen" seed --db "$WORK/seed.db" --budget-rows "$ROWS" --responses "$ROWS" --jobs 1 > /dev/null
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

measure() { # build-label bin-dir tool rpc server-pid
  local label=$1 bin=$2 tool=$3 rpc=$4 pid=$5 before after calls
  if [[ $tool == loadgen ]]; then
    # loadgen measures the server's CPU itself (its warm-up excluded).
    "$bin/loadgen" --server "http://127.0.0.1:$PORT" --rpc "$rpc" --duration "${DURATION}s" \
      --warmup 1s --connections 4 --jobs 1 --no-ceiling --server-pid "$pid" 2>&1 \
      | sed -n 's/^RESULT .* calls_per_s=\([0-9.]*\) .* server_cpu_us_per_call=\([0-9.-]*\) .*/\1 \2/p' \
      | while read -r rate cpu; do
          echo "RESULT build=$label tool=loadgen rpc=$rpc calls_per_s=$rate server_cpu_us_per_call=$cpu"
        done
    return
  fi
  # h2load: the server's CPU from /proc over the measured seconds only
  # (h2load's warm-up second is not counted in its calls).
  h2load -c 4 -m 16 -t 1 -D "$DURATION" --warm-up-time=1 -d "$WORK/$rpc.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$PORT/$(path "$rpc")" > "$WORK/h2load.txt" 2>&1 &
  local h2=$!
  sleep 1
  before=$(cpu_ticks "$pid")
  wait "$h2"
  after=$(cpu_ticks "$pid")
  calls=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$WORK/h2load.txt")
  awk -v l="$label" -v r="$rpc" -v c="${calls:-0}" -v d="$DURATION" \
    -v cpu=$((after - before)) -v tick="$TICK" \
    'BEGIN { printf "RESULT build=%s tool=h2load rpc=%s calls_per_s=%.0f server_cpu_us_per_call=%.1f\n", l, r, c / d, (c > 0 ? cpu / tick * 1e6 / c : 0) }'
}

for round in $(seq "$ROUNDS"); do
  for side in A B; do
    bin=${!side}
    flags_of=FLAGS_$side
    cp "$WORK/seed.db" "$WORK/run.db"
    # shellcheck disable=SC2086 # the flags are a list
    "$bin/learning-service" serve --db "$WORK/run.db" --listen 127.0.0.1:$PORT --log-level warn \
      ${!flags_of:-} 2> "$WORK/server.log" &
    pid=$!
    for _ in $(seq 100); do
      "$bin/loadgen" --server "http://127.0.0.1:$PORT" --rpc Check --no-ceiling --duration 10ms \
        --warmup 0s --concurrency 1 > /dev/null 2>&1 && break
      sleep 0.1
    done
    echo "# round $round, build $side, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    for tool in $TOOLS; do
      for rpc in $RPCS; do
        measure "$side" "$bin" "$tool" "$rpc" "$pid"
      done
    done
    kill -TERM "$pid"; wait "$pid" || true
  done
done
echo; echo "## Medians over rounds (calls/s; ratio to Check of the same build, tool and round)"
grep '^RESULT' "$OUT" | python3 -c '
import sys, statistics, collections
rows = [dict(kv.split("=") for kv in line.split()[1:]) for line in sys.stdin]
runs = collections.defaultdict(list)
cpu = collections.defaultdict(list)
check = {}
n = collections.Counter()
for r in rows:
    key = (r["build"], r["tool"])
    if r["rpc"] == "Check":
        n[key] += 1
    check_key = key + (n[key],)
    if r["rpc"] == "Check":
        check[check_key] = float(r["calls_per_s"])
    c = float(r["calls_per_s"])
    runs[key + (r["rpc"],)].append((c, c / check[check_key] if check.get(check_key) else 0))
    cpu[key + (r["rpc"],)].append(float(r["server_cpu_us_per_call"]))
for key in sorted(runs):
    calls = [c for c, _ in runs[key]]
    ratios = [q for _, q in runs[key]]
    print("%s %-8s %-32s calls/s %7.0f (%.0f-%.0f)  ratio %.2f (%.2f-%.2f)  cpu/call %.1f us (%.1f-%.1f)" % (
        key[0], key[1], key[2], statistics.median(calls), min(calls), max(calls),
        statistics.median(ratios), min(ratios), max(ratios),
        statistics.median(cpu[key]), min(cpu[key]), max(cpu[key])))
'
