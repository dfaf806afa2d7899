#!/usr/bin/env bash
# Crash test. A mixed write load from 16 callers (src/bin/crashload/) runs
# while the server is killed with SIGKILL at random moments, 10 times, and
# restarted each time on the same file (alternating durability full/normal;
# some kills land during start-up). The callers retry every call with its
# request_id until it is acknowledged and log each acknowledged record. At
# the end the server is killed once more, and the file must pass
# PRAGMA integrity_check and hold every acknowledged record exactly once.
# The exit status is the verdict.
#
# Settings (environment): CRASH_KILLS (10), CRASH_CALLERS (16), CRASH_SEED
# (random; printed, to replay a run), CRASH_PORT (a free port in 20000-31999),
# CRASH_KEEP=1 keeps the work directory (it is always kept on failure).
# CRASH_POSTGRES=postgres://... runs the server on that PostgreSQL database
# instead of a file, in a new schema of its own (dropped after a pass); the
# check is then the same minus SQLite's integrity_check. Needs psql.
set -euo pipefail
cd "$(dirname "$0")/.."

KILLS=${CRASH_KILLS:-10}
CALLERS=${CRASH_CALLERS:-16}
SEED=${CRASH_SEED:-$((RANDOM * 32768 + RANDOM))}

# A debug build: it shares its artifacts with `cargo test`, so CI builds nothing more.
cargo build --locked --quiet --bin learning-service --bin crashload
TARGET=${CARGO_TARGET_DIR:-target}/debug
SERVER_BIN=$TARGET/learning-service
LOAD_BIN=$TARGET/crashload

WORK=$(mktemp -d "${TMPDIR:-/tmp}/crash-test.XXXXXX")
DB=$WORK/learning.db
SCHEMA=
# The log lines "replayed a stored response" (counted at the end), of either backend.
REPLAY_LOG=learning_service::store::sqlite::idempotency=debug,learning_service::store::postgres::idempotency=debug
if [[ -n ${CRASH_POSTGRES:-} ]]; then
  SCHEMA=crash_$(basename "$WORK" | tr -dc 'a-zA-Z0-9' | tr 'A-Z' 'a-z')
  psql -q -v ON_ERROR_STOP=1 "$CRASH_POSTGRES" -c "CREATE SCHEMA $SCHEMA" >/dev/null
  separator='?'
  [[ $CRASH_POSTGRES == *\?* ]] && separator='&'
  DB="${CRASH_POSTGRES}${separator}options=-c%20search_path%3D$SCHEMA"
fi
LOG=$WORK/acknowledged.tsv
STOP=$WORK/stop
SERVER_LOG=$WORK/server.log
: >"$LOG"

SERVER_PID=
LOAD_PID=
finish() {
  local status=$?
  [[ -n $SERVER_PID ]] && kill -9 "$SERVER_PID" 2>/dev/null
  [[ -n $LOAD_PID ]] && kill -9 "$LOAD_PID" 2>/dev/null
  if [[ $status -eq 0 && -z ${CRASH_KEEP:-} ]]; then
    rm -rf "$WORK"
    [[ -n $SCHEMA ]] && PGOPTIONS="-c client_min_messages=warning" \
      psql -q "$CRASH_POSTGRES" -c "DROP SCHEMA $SCHEMA CASCADE" >/dev/null
  else
    echo "crash test: work directory kept: $WORK"
  fi
  exit "$status"
}
trap finish EXIT

fail() {
  echo "crash test: FAIL: $*" >&2
  [[ -s $SERVER_LOG ]] && { echo "--- last server log lines:" >&2; tail -n 20 "$SERVER_LOG" >&2; }
  exit 1
}

listening() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

PORT=${CRASH_PORT:-}
if [[ -z $PORT ]]; then
  for _ in $(seq 50); do
    PORT=$((20000 + RANDOM % 12000))
    listening "$PORT" || break
  done
fi

acknowledged() { wc -l <"$LOG"; }

# Milliseconds as a sleep argument.
pause_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

start_server() {
  "$SERVER_BIN" serve --db "$DB" --listen "127.0.0.1:$PORT" --durability "$1" \
    --log-level "warn,$REPLAY_LOG" 2>>"$SERVER_LOG" &
  SERVER_PID=$!
}

wait_listening() {
  for _ in $(seq 600); do
    listening "$PORT" && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited on start-up"
    sleep 0.1
  done
  fail "the server did not listen within 60 s"
}

# Waits until the callers have $1 more acknowledgements: the load is flowing.
wait_progress() {
  local target=$(($(acknowledged) + $1))
  for _ in $(seq 1200); do
    (($(acknowledged) >= target)) && return 0
    kill -0 "$LOAD_PID" 2>/dev/null || fail "the load stopped (see its errors above)"
    sleep 0.05
  done
  fail "no progress for 60 s (at $(acknowledged) acknowledged writes)"
}

kill_server() {
  kill -9 "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

echo "crash test: seed $SEED, port $PORT, $CALLERS callers, $KILLS kills, work in $WORK," \
  "store ${SCHEMA:+PostgreSQL schema }${SCHEMA:-$DB}"
RANDOM=$SEED
START=$SECONDS
during_startup=0
for kill in $(seq "$KILLS"); do
  durability=full
  ((kill % 2 == 0)) && durability=normal
  start_server "$durability"
  if [[ -z $LOAD_PID ]]; then
    wait_listening
    "$LOAD_BIN" load --addr "127.0.0.1:$PORT" --log "$LOG" --stop-file "$STOP" \
      --callers "$CALLERS" --seed "$SEED" >"$WORK/load.out" &
    LOAD_PID=$!
  fi
  if ((kill > 1 && RANDOM % 4 == 0)); then
    # While it opens the file (WAL recovery, schema check) or just after.
    pause_ms $((RANDOM % 150))
    during_startup=$((during_startup + 1))
  else
    wait_listening
    wait_progress 20
    pause_ms $((RANDOM % 1500))
  fi
  before=$(acknowledged)
  kill_server
  echo "crash test: kill $kill/$KILLS ($durability) at $before acknowledged writes"
  kill -0 "$LOAD_PID" 2>/dev/null || fail "the load stopped (see its errors above)"
done

# A last run lets every caller finish the call it was retrying.
start_server full
wait_listening
wait_progress 50
touch "$STOP"
wait "$LOAD_PID" || { LOAD_PID=; fail "the load failed"; }
LOAD_PID=
cat "$WORK/load.out"
# The file is checked as a crash leaves it, not after a clean shutdown.
kill_server

if grep -n "panicked" "$SERVER_LOG" >&2; then
  fail "the server panicked"
fi
"$LOAD_BIN" verify --db "$DB" --log "$LOG" || fail "the file does not hold what was acknowledged"
# The server replays a stored response for the callers' deliberate replays and
# for retries of writes that were committed but whose answer a kill cut off.
replayed=$(grep -c "replayed a stored response" "$SERVER_LOG" || true)
deliberate=$(sed -n 's/.* \([0-9]*\) replays answered identically.*/\1/p' "$WORK/load.out")
echo "crash test: the server replayed $replayed stored responses; $deliberate were deliberate" \
  "replays, so about $((replayed - ${deliberate:-0})) retries found their write committed before a kill"
echo "crash test: PASS: $(acknowledged) acknowledged writes, $KILLS kills under load" \
  "($during_startup during start-up) + 1 final kill, $((SECONDS - START)) s"
