#!/usr/bin/env bash
# The scenarios of BENCHMARKS.md measured with h2load, a load tool that sends
# one pre-encoded gRPC frame per call and decodes nothing, each beside a
# grpc.health.v1 Check phase run the same way on the same server right before
# it (the ceiling). Raw output goes to bench/results/NAME.txt, a markdown
# table at its end.
#
#   bench/h2load.sh [NAME]      # NAME defaults to h2load-<date>
#
# DURATION=10s per measured phase (after an unmeasured 1 s one); SEEDS=DIR
# keeps the seeded files for later runs; BIN=DIR runs
# the server of another build (frames, checks and background writes still
# come from this tree's loadgen); PIN=1 pins the server to CPU 0 and h2load
# to CPU 1 with taskset; CHURN_RATE=3000 and CHURN_CALLERS=64 set the
# background applications of the entropy-churn rows.
#
# Every phase runs `h2load -c 4 -m 16 -t 1` (4 connections, 16 streams each)
# with `content-type: application/grpc` and `te: trailers`. h2load counts an
# HTTP 200 as a success whatever its grpc-status, so each phase is checked on
# the server's own metrics (--metrics-listen): the calls of that method that
# ended OK must cover every call h2load counts, and no call may end with
# another code (except Canceled and Unknown for the calls cut off when h2load
# stops, at most the 64 streams in flight). The frame file is also sent once with nghttp, whose
# grpc-status must be 0. A failed check marks the row FAIL and the script
# exits 1.
set -euo pipefail
NAME=${1:-h2load-$(date +%Y%m%d-%H%M%S)}
source "$(dirname "$0")/lib.sh"

METRICS_PORT=${METRICS_PORT:-$((PORT + 1))}
PIN=${PIN:-0}
if ! command -v h2load > /dev/null || ! command -v nghttp > /dev/null; then
  apt-get install -y -q nghttp2-client > /dev/null || { apt-get update -q && apt-get install -y -q nghttp2-client; } > /dev/null
fi
# This tree's loadgen writes the frames (an older build may not have
# `loadgen frame`); the server and the seeded files come from $BIN.
cargo build --release --quiet --bin loadgen
LOADGEN=target/release/loadgen
ROWS=$WORK/rows.txt
: > "$ROWS"
FAILED=0
SECONDS_PER_PHASE=${DURATION%s}
[[ $SECONDS_PER_PHASE =~ ^[0-9]+$ ]] || { echo "DURATION must be whole seconds (e.g. 5s)"; exit 1; }

echo "# h2load: $(h2load --version | head -1); pinned: $([ "$PIN" = 1 ] && echo 'server CPU 0, h2load CPU 1' || echo no)"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

H2=(h2load -t 1 -H 'content-type: application/grpc' -H 'te: trailers')
[ "$PIN" = 1 ] && H2=(taskset -c 1 "${H2[@]}")

serve() { # db-file [serve flags...]: metrics on, for the status check of each phase
  start "$@" --log-level warn --metrics-listen 127.0.0.1:$METRICS_PORT
  if [ "$PIN" = 1 ]; then taskset -a -c -p 0 "$SERVER_PID" > /dev/null; fi
}

ticks() { # utime+stime of the server, in clock ticks (all its threads)
  sed 's/.*) //' "/proc/$SERVER_PID/stat" | awk '{print $12 + $13}'
}

# Sum of grpc_server_handled_total for METHOD: `ok` counts code OK,
# `cut` Canceled and Unknown (how the server counts the calls h2load cuts off
# when it stops: reset streams, bodies ended without trailers), `other`
# every other code.
handled() { # method ok|cut|other
  curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | awk -v m="grpc_method=\"$1\"" -v want="$2" '
    /^grpc_server_handled_total\{/ && index($0, m) {
      code = $0; sub(/.*grpc_code="/, "", code); sub(/".*/, "", code)
      kind = code == "OK" ? "ok" : (code == "Canceled" || code == "Unknown") ? "cut" : "other"
      if (kind == want) sum += $NF
    }
    END { printf "%d\n", sum }'
}

frame() { # file rpc [loadgen frame flags...]: writes the frame, prints the path
  local file=$1 rpc=$2; shift 2
  $LOADGEN frame --rpc "$rpc" --out "$file" "$@"
}

# One measured phase: COUNT h2load processes side by side, process i with
# frame file i, CONNECTIONS/COUNT connections each (so 4 in all); prints a
# row for the table and checks the outcome on the server's metrics.
#   phase label rpc path streams-per-connection frame-file...
phase() {
  local label=$1 rpc=$2 path=$3 streams=$4; shift 4
  local frames=("$@") count=$# method=${path##*/}
  local clients=$((CONNECTIONS / count))
  local url=$SERVER$path
  local pids=() pid
  for f in "${frames[@]}"; do # unmeasured: connections, caches, the writer's file
    "${H2[@]}" -c "$clients" -m "$streams" -D 1 -d "$f" "$url" > /dev/null &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  pids=()
  sleep 0.2 # the calls the warm-up cut off end on the server
  local ok0 other0 cut0 ticks0 ticks1 i
  ok0=$(handled "$method" ok); other0=$(handled "$method" other); cut0=$(handled "$method" cut)
  ticks0=$(ticks)
  for i in "${!frames[@]}"; do
    "${H2[@]}" -c "$clients" -m "$streams" -D "$SECONDS_PER_PHASE" -d "${frames[$i]}" \
      --log-file "$WORK/h2-$i.log" "$url" > "$WORK/h2-$i.txt" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  ticks1=$(ticks)
  local ok other cut
  ok=$(($(handled "$method" ok) - ok0)); other=$(($(handled "$method" other) - other0))
  cut=$(($(handled "$method" cut) - cut0))
  echo
  echo "### $label: $rpc ($count x h2load -c $clients -m $streams, ${DURATION})"
  for i in "${!frames[@]}"; do
    [ "$count" -gt 1 ] && echo "--- h2load $((i + 1)) of $count, frame $(basename "${frames[$i]}")"
    grep -E '^(finished|requests|status codes|traffic|time for request|req/s)' "$WORK/h2-$i.txt" || cat "$WORK/h2-$i.txt"
  done
  # Calls and rate summed over the processes; latency over all their calls.
  local calls rate succeeded
  calls=$(cat "$WORK"/h2-*.txt | awk '/^requests:/ {sum += $6} END {print sum + 0}')
  succeeded=$(cat "$WORK"/h2-*.txt | awk '/^requests:/ {sum += $8} END {print sum + 0}')
  rate=$(cat "$WORK"/h2-*.txt | awk '/^finished in/ {sum += $4} END {printf "%.0f", sum}')
  read -r p50 p99 < <(cat "$WORK"/h2-*.log | awk '{print $3}' | sort -n | awk '
    {v[NR] = $1} END { if (NR == 0) { print "- -"; exit }
      i50 = int(NR * 0.50); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
      printf "%.3f %.3f\n", v[i50] / 1000, v[i99] / 1000 }')
  rm -f "$WORK"/h2-*.txt "$WORK"/h2-*.log
  local cpu_us
  cpu_us=$(awk -v t=$((ticks1 - ticks0)) -v c="$calls" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.1f", (c > 0 ? t * 1e6 / hz / c : 0) }')
  # The check: every call h2load counts ended OK on the server; no other
  # code at all but for the calls cut off, at most the streams in flight.
  local status=ok
  if [ "$calls" -eq 0 ] || [ "$succeeded" -ne "$calls" ] || [ "$ok" -lt "$calls" ] || [ "$other" -ne 0 ] ||
    [ "$cut" -gt $((count * clients * streams)) ]; then
    status="FAIL"
  fi
  local replay
  replay=$(nghttp -v -H 'content-type: application/grpc' -H 'te: trailers' -d "${frames[0]}" "$url" 2>&1 |
    sed -n 's/.*grpc-status: \([0-9]*\).*/\1/p' | tail -1)
  [ "$replay" = 0 ] || status="FAIL"
  echo "server: $calls calls, $ok ended OK, $other with another code, $cut cut off (Canceled/Unknown);" \
    "server CPU $cpu_us us/call; one more call with nghttp: grpc-status ${replay:-none}; check: $status"
  [ "$status" = ok ] || FAILED=1
  echo "$label|$rpc|$rate|$cpu_us|$p50|$p99|$calls|$status" >> "$ROWS"
}

# The Check ceiling on this server, then the RPC: one table row each.
#   pair label rpc streams jobs... (one h2load process per job; a single job
#   takes all 4 connections)
pair() {
  local label=$1 rpc=$2 streams=$3; shift 3
  local check_path path files=() job
  check_path=$(frame "$WORK/check.bin" Check)
  phase "$label" Check "$check_path" "$streams" "$WORK/check.bin"
  for job in "$@"; do
    path=$(frame "$WORK/frame-$job.bin" "$rpc" --job "$job")
    files+=("$WORK/frame-$job.bin")
  done
  phase "$label" "$rpc" "$path" "$streams" "${files[@]}"
}

# SEEDS=DIR keeps the seeded files in DIR and reuses them in later runs
# (seeding the two 1M-row files takes minutes on a busy machine); every
# scenario still runs on a copy or a file no run writes to.
seed() { # file loadgen-seed-flags...
  local file=$1; shift
  if [ -n "${SEEDS:-}" ] && [ -f "$SEEDS/$file" ]; then
    echo "reusing $SEEDS/$file"
  else
    $BIN/loadgen seed --db "$WORK/$file" "$@"
    if [ -n "${SEEDS:-}" ]; then mkdir -p "$SEEDS"; cp "$WORK/$file" "$SEEDS/$file"; fi
  fi
  if [ -n "${SEEDS:-}" ]; then cp "$SEEDS/$file" "$WORK/$file"; fi
}
seed small.db --budget-rows 1000 --responses 1000 --jobs 1
seed large.db --budget-rows 1000000 --responses 1000000 --jobs 1
seed small100.db --budget-rows 10000 --responses 1000 --jobs 100
seed entropy.db --patterns 10000 --applications 1000000

# h2load sends one body per process, so "100 jobs" is 4 h2load processes
# (one connection and 16 streams each, the same 64 streams as one job) on 4
# of the 100 jobs: writes spread over several jobs, not over 100.
SPREAD=(0 25 50 75)

echo; echo "## Writes, durable (--durability full, the default)"
for rpc in UpdateExplorationBudget CalculateBudgetAdjustment; do
  serve "$(fresh small100.db)"; pair "write-full-1job" $rpc 16 0; stop
  serve "$(fresh small100.db)"; pair "write-full-4of100jobs" $rpc 16 "${SPREAD[@]}"; stop
done

echo; echo "## Writes, --durability normal (for comparison)"
for rpc in UpdateExplorationBudget CalculateBudgetAdjustment; do
  serve "$(fresh small100.db)" --durability normal; pair "write-normal-1job" $rpc 16 0; stop
done

echo; echo "## Reads, 1k rows"
serve "$(fresh small.db)"
for rpc in GetExplorationBudget GetExplorationBudgetHistory GetExplorationBudgetStatistics GetEntropyResponseStatistics; do
  pair "read-1k" $rpc 16 0
done
stop

echo; echo "## Reads, 1M rows (same job, same RPCs)"
serve "$WORK/large.db"
for rpc in GetExplorationBudget GetExplorationBudgetHistory GetExplorationBudgetStatistics GetEntropyResponseStatistics; do
  pair "read-1m" $rpc 16 0
done
stop

echo; echo "## Entropy, 10,000 patterns and 1M applications (64 streams)"
serve "$WORK/entropy.db"
for rpc in CalculatePatternEntropy CheckEntropyResponseNeeded; do
  pair "entropy-64" $rpc 16 0
done
stop

CHURN_RATE=${CHURN_RATE:-3000}
echo; echo "## Entropy while applications are recorded ($CHURN_RATE/s wanted, loadgen --rate, 64 streams)"
serve "$(fresh entropy.db)"
# Long enough for both pairs of phases and their warm-ups.
$LOADGEN --server $SERVER --rpc RecordPatternApplication --rate "$CHURN_RATE" --concurrency "${CHURN_CALLERS:-64}" \
  --connections 1 --duration $((4 * SECONDS_PER_PHASE + 20))s --warmup 0s --no-ceiling \
  --label "entropy-churn-writes" > "$WORK/churn.txt" &
CHURN_PID=$!
sleep 1
for rpc in CalculatePatternEntropy CheckEntropyResponseNeeded; do
  pair "entropy-churn-64" $rpc 16 0
done
wait "$CHURN_PID"; echo; cat "$WORK/churn.txt"
stop
CHURN=$(sed -n 's/.*calls_per_s=\([0-9]*\).* errors=\([0-9]*\).*/\1 calls\/s, \2 errors/p' "$WORK/churn.txt")

echo; echo "## Summary (h2load; the mix stays on loadgen: h2load sends one body per process)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); background writes of entropy-churn: $CHURN"
echo
echo "| scenario | RPC | calls/s | ratio to Check | server CPU µs/call | p50 ms | p99 ms | check |"
echo "|---|---|---:|---:|---:|---:|---:|---|"
awk -F'|' '
  $2 == "Check" { check = $3 }
  { ratio = ($2 == "Check" || check == 0) ? "-" : sprintf("%.2f", $3 / check)
    printf "| %s | %s | %d | %s | %s | %s | %s | %s |\n", $1, $2, $3, ratio, $4, $5, $6, $8 }' "$ROWS"
rm -rf "$WORK"
exit "$FAILED"
