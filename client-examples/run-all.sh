#!/usr/bin/env bash
# Runs every client example against its own fresh learning-service (new temp database, free
# port), one after another, and prints a summary. Exits non-zero if any example fails.
#
#   client-examples/run-all.sh                  all examples
#   client-examples/run-all.sh go node          only these (python python-adapter python-adapter-original
#                                               go java node grpcurl rust)
#
# The server is built with `cargo build --locked` unless LEARNING_SERVICE_BIN names a binary.
# EXAMPLE_TIMEOUT (seconds, default 600) bounds each example, install steps included.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
all=(python python-adapter python-adapter-original go java node grpcurl rust)
examples=("$@")
[[ ${#examples[@]} -gt 0 ]] || examples=("${all[@]}")
for e in "${examples[@]}"; do
  [[ " ${all[*]} " == *" $e "* ]] || { echo "unknown example '$e' (known: ${all[*]})" >&2; exit 2; }
done
timeout_s=${EXAMPLE_TIMEOUT:-600}

work=$(mktemp -d "${TMPDIR:-/tmp}/learning-examples.XXXXXX")
server_pid=""
server_problem=""
stop_server() { # SIGTERM; the server must exit 0 within 10 s
  local rc
  if [[ -n $server_pid ]]; then
    kill -TERM "$server_pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$server_pid" 2>/dev/null; then
      kill -KILL "$server_pid" 2>/dev/null
      server_problem="server still running 10 s after SIGTERM"
    fi
    wait "$server_pid" 2>/dev/null
    rc=$?
    [[ -n $server_problem || $rc -eq 0 ]] || server_problem="server exited with status $rc"
    server_pid=""
  fi
}
trap 'stop_server; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

started=$SECONDS
if [[ -n ${LEARNING_SERVICE_BIN:-} ]]; then
  bin=$LEARNING_SERVICE_BIN
  [[ -x $bin ]] || { echo "LEARNING_SERVICE_BIN=$bin is not an executable" >&2; exit 2; }
else
  echo "=== cargo build --locked"
  (cd "$root" && cargo build --locked) || { echo "cargo build failed" >&2; exit 1; }
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/learning-service"
fi
echo "server binary: $bin"

# The health probe (grpc.health.v1) runs in the Python example's virtualenv, where setup
# installs the example's freshly built wheel.
"$here/python/run.sh" setup || { echo "python setup failed" >&2; exit 1; }
probe="$here/python/.venv/bin/python"

free_port() {
  "$probe" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_healthy() { # address pid
  "$probe" - "$1" "$2" <<'EOF'
import os, sys, time
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

address, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 30
with grpc.insecure_channel(address) as channel:
    stub = health_pb2_grpc.HealthStub(channel)
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            sys.exit(f"server exited before it was healthy")
        try:
            if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
                sys.exit(0)
        except grpc.RpcError:
            pass
        time.sleep(0.2)
sys.exit(f"server at {address} not SERVING after 30 s")
EOF
}

run_example() { # name
  case $1 in
    python) "$here/python/run.sh" typecheck && "$here/python/run.sh" story ;;
    python-adapter) "$here/python/run.sh" test ;;
    python-adapter-original) "$here/python/run.sh" test-original ;;
    go) "$here/go/run.sh" ;;
    java) "$here/java/run.sh" ;;
    node) "$here/node/run.sh" ;;
    grpcurl) "$here/grpcurl/run.sh" ;;
    rust) "$here/rust/run.sh" ;;
  esac
}

declare -A result seconds
failed=0
for name in "${examples[@]}"; do
  echo
  echo "=== $name"
  t0=$SECONDS
  dir="$work/$name"
  mkdir -p "$dir"
  port=$(free_port)
  address="127.0.0.1:$port"
  NO_COLOR=1 "$bin" serve --db "$dir/learning.db" --listen "$address" >"$dir/server.log" 2>&1 &
  server_pid=$!
  if ! wait_healthy "$address" "$server_pid"; then
    result[$name]="FAIL (server did not become healthy)"
  else
    echo "server pid $server_pid at $address, database $dir/learning.db"
    LEARNING_SERVER=$address timeout "$timeout_s" bash -c "$(declare -f run_example); here='$here'; run_example $name"
    rc=$?
    if [[ $rc -eq 0 ]]; then
      result[$name]=PASS
    elif [[ $rc -eq 124 ]]; then
      result[$name]="FAIL (timed out after ${timeout_s}s)"
    else
      result[$name]="FAIL (exit $rc)"
    fi
    kill -0 "$server_pid" 2>/dev/null || result[$name]="${result[$name]}; the server died"
  fi
  server_problem=""
  stop_server
  if [[ -n $server_problem ]]; then
    if [[ ${result[$name]} == PASS ]]; then result[$name]="FAIL ($server_problem)"; else result[$name]+="; $server_problem"; fi
  fi
  if [[ ${result[$name]} != PASS ]]; then
    failed=1
    echo "--- server log (last 30 lines) of $name:"
    tail -n 30 "$dir/server.log"
  fi
  seconds[$name]=$((SECONDS - t0))
done

echo
echo "=== summary"
for name in "${examples[@]}"; do
  printf '%-24s %-40s %4ss\n' "$name" "${result[$name]}" "${seconds[$name]}"
done
echo "total $((SECONDS - started))s"
if [[ $failed -ne 0 ]]; then
  echo "some examples FAILED"
  exit 1
fi
echo "all examples passed"
