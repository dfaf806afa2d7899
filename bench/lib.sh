# Sourced by the bench scripts: the release build, the header of a results
# file, one server at a time and one measured phase. The caller sets NAME and
# may set DURATION, WORK, PORT, CONNECTIONS and BIN (the binaries' folder) first,
# and SERVER_BIN (the server binary start runs) at any time.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION=${DURATION:-10s}
WORK=${WORK:-$(mktemp -d /tmp/learning-bench.XXXXXX)}
OUT=bench/results/$NAME.txt
PORT=${PORT:-50071}
CONNECTIONS=${CONNECTIONS:-4}
SERVER=http://127.0.0.1:$PORT
BIN=${BIN:-target/release}
SERVER_PID=

# With BIN set elsewhere, the binaries there are used as they are.
[[ $BIN != target/release ]] || cargo build --release --quiet --bin learning-service --bin loadgen
mkdir -p bench/results
exec > >(tee "$OUT") 2>&1
echo "# $NAME: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD), binaries $BIN, server ${SERVER_BIN:-$BIN/learning-service}"
echo "# machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "# duration per phase: $DURATION, $CONNECTIONS HTTP/2 connections; loadgen and server on the same machine"

start() { # db-file [serve flags...]: returns once the server answers health checks
  local db=$1; shift
  ${SERVER_BIN:-$BIN/learning-service} serve --db "$db" --listen 127.0.0.1:$PORT "$@" \
    2> "$WORK/server.log" &
  SERVER_PID=$!
  # Up to 60 s: an older build rebuilds the aggregates of a newer file at open.
  for _ in $(seq 600); do
    if $BIN/loadgen --server $SERVER --rpc Check --no-ceiling --duration 10ms --warmup 0s \
      --concurrency 1 > /dev/null 2>&1; then return; fi
    sleep 0.1
  done
  echo "server did not start"; cat "$WORK/server.log"; exit 1
}
stop() {
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true
}
load() { # label [loadgen flags...]
  local label=$1; shift
  echo
  $BIN/loadgen --server $SERVER --duration "$DURATION" --connections "$CONNECTIONS" \
    --server-pid "$SERVER_PID" --label "$label" "$@"
}
fresh() { # copy of a seeded file, so that each write run starts from the same state
  rm -f "$WORK/run.db"*; cp "$WORK/$1" "$WORK/run.db"; echo "$WORK/run.db"
}
summary() {
  echo; echo "## Summary"
  grep '^RESULT' "$OUT" | sed 's/^RESULT //'
  rm -rf "$WORK"
}
