#!/usr/bin/env bash
# writes.sh BIN...: durable UpdateExplorationBudget, 64 callers, one job, each build seeding its own file.
cd /tmp/perfab
for round in 1 2; do
for b in "$@"; do
  rm -f wb-$b.db*; /work/bin-$b/loadgen seed --db wb-$b.db --budget-rows 1000 --responses 1000 --jobs 1 >/dev/null
  /work/bin-$b/learning-service serve --db wb-$b.db --listen 127.0.0.1:50993 --log-level warn 2>/dev/null & pid=$!
  for _ in $(seq 100); do /work/bin-5bff72a/loadgen --server http://127.0.0.1:50993 --rpc Check --no-ceiling --duration 10ms --warmup 0s --concurrency 1 >/dev/null 2>&1 && break; sleep 0.1; done
  r=$(/work/bin-5bff72a/loadgen --server http://127.0.0.1:50993 --rpc UpdateExplorationBudget --duration 5s --concurrency 64 --server-pid $pid 2>&1 | grep ^RESULT)
  kill $pid; wait $pid 2>/dev/null
  echo "round=$round build=$b $(echo "$r" | grep -o 'calls_per_s=[0-9]*') $(echo "$r" | grep -o 'ratio_pct=[0-9.]*') $(echo "$r" | grep -o 'server_cpu_us_per_call=[0-9.]*')"
done; done
