#!/usr/bin/env bash
# The PostgreSQL scenarios of BENCHMARKS.md: the write, read and mix scenarios
# with one and with two replicas (two server processes on one database), and
# beside them the SQLite write and mix scenarios; with pgbench's built-in
# simple-update script (`pgbench -N`) on the same database and machine, in the
# same run, as the ceiling for writes.
#
#   bench/postgres.sh [NAME]   # DURATION=10s CLIENTS=64 REPEAT=3 by default
#
# REPLICAS="1 2" (the default) chooses the runs; SERVE_FLAGS adds flags to
# every replica (e.g. "--pg-write-lanes 2"); WRITES_ONLY=1 stops each run after
# its CalculateBudgetAdjustment rounds and skips SQLite.
#
# It starts a private cluster (initdb into a temporary directory, on its own
# port), tuned as a deployment would be (below), and removes it at the end.
# The service, loadgen, pgbench and PostgreSQL share this machine's cores.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:-postgres-$(date +%Y%m%d-%H%M%S)}
DURATION=${DURATION:-10s}
SECONDS_PER_PHASE=${DURATION%s}
CLIENTS=${CLIENTS:-64}
REPEAT=${REPEAT:-3}
CONNECTIONS=${CONNECTIONS:-4}
REPLICAS=${REPLICAS:-1 2}
SERVE_FLAGS=${SERVE_FLAGS:-}
WRITES_ONLY=${WRITES_ONLY:-}
PORT=${PORT:-50081}
PGPORT=${PGPORT:-55481}
OUT=bench/results/$NAME.txt
WORK=$(mktemp -d /tmp/learning-pgbench.XXXXXX)
chmod 755 "$WORK"
PGBIN=/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -n | tail -1)/bin
URL="postgres://postgres@127.0.0.1:$PGPORT/learning"

# BIN=DIR runs the binaries in DIR instead (e.g. a copy of an earlier build).
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet --bin learning-service --bin loadgen
  BIN=target/release
fi
mkdir -p bench/results
exec > >(tee "$OUT") 2>&1

as_postgres() { runuser -u postgres -- "$@"; }
SERVER_PIDS=()
cleanup() {
  for pid in "${SERVER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  as_postgres "$PGBIN/pg_ctl" -D "$WORK/pg" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "# $NAME: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD), binaries $BIN"
echo "# machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/Mem:/ {print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $("$PGBIN/postgres" --version); duration per phase: $DURATION; $CLIENTS clients; $CONNECTIONS HTTP/2 connections; serve flags: ${SERVE_FLAGS:-none}"

# A private cluster, durable (fsync, synchronous_commit on: an acknowledged
# write survives power loss, as the service's --durability full), sized for a
# small dedicated server rather than Debian's defaults.
mkdir -p "$WORK/pg" && chown postgres "$WORK" "$WORK/pg"
as_postgres "$PGBIN/initdb" -D "$WORK/pg" -U postgres -A trust --no-sync -E UTF8 --locale C.UTF-8 >/dev/null
cat >> "$WORK/pg/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$WORK'
max_connections = 300
shared_buffers = 1GB
effective_cache_size = 4GB
work_mem = 16MB
maintenance_work_mem = 256MB
wal_buffers = 16MB
max_wal_size = 8GB
min_wal_size = 1GB
checkpoint_timeout = 15min
checkpoint_completion_target = 0.9
fsync = on
synchronous_commit = on
wal_compression = on
random_page_cost = 1.1
EOF
as_postgres "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w start >/dev/null
echo "# cluster: $(grep -E '^(shared_buffers|synchronous_commit|max_wal_size|checkpoint_timeout|wal_compression)' "$WORK/pg/postgresql.conf" | tr '\n' ';')"

psql_() { "$PGBIN/psql" -q -h 127.0.0.1 -p "$PGPORT" -U postgres "$@"; }

# History to read (and to write on top of), as in bench/run.sh: 10,000 budget
# records and 1,000 responses over 100 jobs, copied in with `migrate`.
$BIN/loadgen seed --db "$WORK/small100.db" --budget-rows 10000 --responses 1000 --jobs 100 >/dev/null

fresh() { # a new database: the pgbench tables and the seeded history
  psql_ -d postgres -c "DROP DATABASE IF EXISTS learning" -c "CREATE DATABASE learning"
  "$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -i -s 10 -q learning 2>&1 | tail -1
  $BIN/learning-service migrate --from "$WORK/small100.db" --to "$URL" --log-level warn 2>/dev/null | tail -1
  psql_ -d learning -c "VACUUM ANALYZE"
}

wait_ready() { # server
  for _ in $(seq 100); do
    if $BIN/loadgen --server "$1" --rpc Check --no-ceiling --duration 10ms --warmup 0s \
      --concurrency 1 >/dev/null 2>&1; then return; fi
    sleep 0.1
  done
  echo "server $1 did not start"; cat "$WORK"/server-*.log; exit 1
}

SERVERS=
start() { # replicas db [serve flags...]
  local replicas=$1 db=$2; shift 2
  SERVER_PIDS=(); SERVERS=
  for replica in $(seq "$replicas"); do
    local port=$((PORT + replica - 1))
    $BIN/learning-service serve --db "$db" --listen 127.0.0.1:$port --log-level warn "$@" \
      2>"$WORK/server-$replica.log" &
    SERVER_PIDS+=($!)
    SERVERS=${SERVERS:+$SERVERS,}http://127.0.0.1:$port
  done
  for server in ${SERVERS//,/ }; do wait_ready "$server"; done
}
stop() {
  for pid in "${SERVER_PIDS[@]}"; do kill -TERM "$pid"; wait "$pid" || true; done
  SERVER_PIDS=()
}
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat; }
load() { # label [loadgen flags...]
  local label=$1; shift
  echo
  local before after
  before=$(cpu_ticks)
  $BIN/loadgen --server "$SERVERS" --duration "$DURATION" --connections "$CONNECTIONS" \
    --concurrency "$CLIENTS" --no-ceiling --label "$label" "$@"
  after=$(cpu_ticks)
  # Busy share of all cores over the phase (warm-up included): near 100 %
  # means the machine, not a lock, bounds the rate.
  echo "$before $after" | awk '{ busy = $3 - $1; idle = $4 - $2; printf "  machine CPU busy %.0f %%\n", 100 * busy / (busy + idle) }'
}
pgbench_ceiling() { # label
  echo
  echo "pgbench -N -M prepared -c $CLIENTS -j 2 -T $SECONDS_PER_PHASE ($1)"
  local tps
  tps=$("$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -N -M prepared -c "$CLIENTS" -j 2 \
    -T "$SECONDS_PER_PHASE" learning 2>/dev/null | tee "$WORK/pgbench.txt" |
    sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
  grep -E '^(latency average|tps)' "$WORK/pgbench.txt" | sed 's/^/  /'
  echo "PGBENCH label=$1 clients=$CLIENTS tps=$tps"
}

for replicas in $REPLICAS; do
  echo; echo "## PostgreSQL, $replicas replica(s): writes against the pgbench ceiling, repeated $REPEAT times"
  fresh
  # shellcheck disable=SC2086 # SERVE_FLAGS is a list of flags
  start "$replicas" "$URL" $SERVE_FLAGS
  for round in $(seq "$REPEAT"); do
    pgbench_ceiling "pg-$replicas-round-$round"
    load "pg-$replicas-write-round-$round" --rpc CalculateBudgetAdjustment --jobs 100
  done
  if [ -n "$WRITES_ONLY" ]; then stop; continue; fi
  load "pg-$replicas-write" --rpc UpdateExplorationBudget --jobs 100
  load "pg-$replicas-write" --rpc CalculateBudgetAdjustment --jobs 1
  echo; echo "## PostgreSQL, $replicas replica(s): reads (10,000 records of 100 jobs and more written above)"
  for rpc in GetExplorationBudget GetExplorationBudgetHistory GetExplorationBudgetStatistics GetEntropyResponseStatistics; do
    load "pg-$replicas-read" --rpc $rpc --jobs 100
  done
  echo; echo "## PostgreSQL, $replicas replica(s): mix over 100 jobs (one call in three writes)"
  load "pg-$replicas-mix" --rpc mix --jobs 100
  stop
done

if [ -z "$WRITES_ONLY" ]; then
  echo; echo "## SQLite (--durability full), the same write and mix scenarios, for comparison"
  cp "$WORK/small100.db" "$WORK/run.db"
  start 1 "$WORK/run.db"
  load "sqlite-write" --rpc CalculateBudgetAdjustment --jobs 100
  load "sqlite-mix" --rpc mix --jobs 100
  stop
fi

echo; echo "## Summary"
grep -E '^(RESULT|PGBENCH)' "$OUT" | sed -E 's/^(RESULT|PGBENCH) //'
echo
echo "CalculateBudgetAdjustment over 100 jobs as a share of pgbench -N tps (same clients, same run):"
grep -E '^(RESULT|PGBENCH)' "$OUT" | awk '
  /^PGBENCH/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }; tps = f["tps"]; next }
  /rpc=CalculateBudgetAdjustment/ && /round-/ {
    for (i = 2; i <= NF; i++) { split($i, kv, "="); g[kv[1]] = kv[2] }
    printf "  %-28s %8.0f adjustments/s  pgbench %8.0f tps  share %5.1f %%\n", g["label"], g["calls_per_s"], tps, 100 * g["calls_per_s"] / tps
  }'
