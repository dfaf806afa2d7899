#!/usr/bin/env bash
# The learning.v1 story with grpcurl and server reflection only (no .proto file), every answer
# checked with python3's json module. Server: $LEARNING_SERVER (default 127.0.0.1:50051);
# grpcurl: $GRPCURL (default: the one run.sh installs into .venv). Exits 1 on the first answer
# that differs from the contract. Exact entropy values are checked only when the server starts
# with no patterns (run-all.sh gives each example a fresh database).
set -euo pipefail
cd "$(dirname "$0")"

export ADDR=${LEARNING_SERVER:-127.0.0.1:50051}
export GRPCURL=${GRPCURL:-.venv/bin/grpcurl}

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

# call Service/Method [json]: prints the JSON response; any error fails the story.
call() {
  local out data=${2:-'{}'}
  if ! out=$("$GRPCURL" -plaintext -emit-defaults -format-error -max-time 10 -d "$data" "$ADDR" "learning.v1.$1" 2>&1); then
    fail "learning.v1.$1 $data: $out"
  fi
  printf '%s' "$out"
}

# The JSON is read by python3. grpcurl prints the proto3 JSON names (lowerCamelCase, or the
# proto names when the server's descriptors carry no json_name), so keys are turned into the
# proto field names (snake_case) first. int64 fields are JSON strings, hence the int(...).
PY_PRELUDE='
import json, math, re, sys
def snake(o):
    if isinstance(o, dict):
        return {re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", k).lower(): snake(v) for k, v in o.items()}
    if isinstance(o, list):
        return [snake(v) for v in o]
    return o
'

# get JSON EXPR: evaluates the Python expression EXPR with the parsed JSON as r.
get() { python3 -c "$PY_PRELUDE"'
r = snake(json.loads(sys.argv[2])); print(eval(sys.argv[1]))' "$2" "$1"; }

# check JSON EXPR MESSAGE: fails with MESSAGE (and the JSON) unless EXPR is true of r.
check() {
  python3 -c "$PY_PRELUDE"'
r = snake(json.loads(sys.argv[2])); sys.exit(0 if eval(sys.argv[1]) else 1)' "$2" "$1" || fail "$3; answer: $1"
}

close() { echo "abs(($1) - ($2)) <= 1e-6"; }

run="grpcurl-$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
job="job-$run"
echo "server $ADDR, job_hash $job, $("$GRPCURL" -version 2>&1)"

services=$("$GRPCURL" -plaintext "$ADDR" list) || fail "reflection: $services"
for s in learning.v1.BudgetService learning.v1.EntropyService learning.v1.PatternService; do
  grep -qx "$s" <<<"$services" || fail "reflection does not list $s: $services"
done

before=$(call EntropyService/CalculatePatternEntropy)
fresh=$(get "$before" 'int(r["metrics"]["unique_pattern_count"]) == 0')
[[ $fresh == True ]] || echo "    the server already knows $(get "$before" 'r["metrics"]["unique_pattern_count"]') patterns: exact entropy checks skipped"

step "a. record 3 patterns, quarantine one, record 90 + 10 applications"
declare -A ids
for name in dominant rare quarantined; do
  p=$(call PatternService/RecordPattern "{\"pattern_type\":\"example\",\"pattern_name\":\"$run-$name\",\"description\":\"$name pattern\"}")
  check "$p" 'len(r["pattern"]["id"]) == 36' "RecordPattern $name: id is not a UUID"
  check "$p" 'r["pattern"]["quarantine_status"] == "QUARANTINE_STATUS_PENDING"' "RecordPattern $name: status"
  check "$p" 'int(r["pattern"]["application_count"]) == 0' "RecordPattern $name: application_count"
  ids[$name]=$(get "$p" 'r["pattern"]["id"]')
done
qid=${ids[quarantined]}
q=$(call PatternService/SetPatternQuarantineStatus \
  "{\"pattern_id\":\"$qid\",\"status\":\"QUARANTINE_STATUS_QUARANTINED\",\"reason\":\"story: suspicious\"}")
check "$q" 'r["pattern"]["quarantine_status"] == "QUARANTINE_STATUS_QUARANTINED"' "SetPatternQuarantineStatus: status"
check "$q" 'r["pattern"]["stored_quarantine_status"] == "quarantined"' "SetPatternQuarantineStatus: stored status"
# 4 at a time (one grpcurl process per call); the counts returned must then be exactly 1..N.
apps_dir=$(mktemp -d)
for pair in dominant:90 rare:10; do
  name=${pair%%:*} count=${pair##*:}
  # shellcheck disable=SC2016  # expanded by the inner sh
  seq 0 $((count - 1)) | xargs -P 4 -I{} sh -c '
    success=$([ $(($1 % 4)) -ne 0 ] && echo true || echo false)
    exec "$GRPCURL" -plaintext -format-error -max-time 10 -d "{\"pattern_id\":\"$2\",\"execution_id\":\"$3-exec-$1\",\"pattern_led_to_success\":$success}" \
      "$ADDR" learning.v1.PatternService/RecordPatternApplication >"$4/$1.json" 2>&1' \
    sh {} "${ids[$name]}" "$run" "$apps_dir" \
    || fail "RecordPatternApplication $name: $(cat "$apps_dir"/*.json)"
  answers=$(python3 -c 'import json, sys; print(json.dumps([json.load(open(f)) for f in sys.argv[1:]]))' "$apps_dir"/*.json)
  check "$answers" 'all(a["application_id"] for a in r)' "RecordPatternApplication $name: empty application_id"
  check "$answers" "sorted(int(a['application_count']) for a in r) == list(range(1, $count + 1))" \
    "RecordPatternApplication $name: the application_count answers are not exactly 1..$count"
  rm -f "$apps_dir"/*.json
done
rm -rf "$apps_dir"
echo "    patterns ${ids[dominant]} x90, ${ids[rare]} x10, $qid quarantined"

step "b. CalculatePatternEntropy"
m=$(call EntropyService/CalculatePatternEntropy)
metrics=$(get "$m" 'json.dumps(r["metrics"])')
get "$m" '"    shannon %.6f diversity %.6f effective %s unique %s total %s dominant %.6f" % tuple(r["metrics"][k] for k in ("shannon_entropy", "diversity_index", "effective_pattern_count", "unique_pattern_count", "total_applications", "dominant_pattern_share"))'
check "$m" 'r["metrics"]["id"] == ""' "CalculatePatternEntropy: id of an unrecorded snapshot"
check "$m" '"calculated_at" in r["metrics"]' "CalculatePatternEntropy: calculated_at unset"
check "$m" 'r["metrics"]["threshold_exceeded"] is False' "CalculatePatternEntropy: threshold_exceeded without alert_threshold"
if [[ $fresh == True ]]; then
  check "$m" "$(close 'r["metrics"]["shannon_entropy"]' 0.468996)" "shannon_entropy != 0.468996"
  check "$m" "$(close 'r["metrics"]["max_possible_entropy"]' 1.0)" "max_possible_entropy != 1"
  check "$m" "$(close 'r["metrics"]["diversity_index"]' 0.468996)" "diversity_index != 0.468996"
  check "$m" 'int(r["metrics"]["effective_pattern_count"]) == 2' "effective_pattern_count != 2"
  check "$m" 'int(r["metrics"]["unique_pattern_count"]) == 3' "unique_pattern_count != 3"
  check "$m" 'int(r["metrics"]["total_applications"]) == 100' "total_applications != 100"
  check "$m" "$(close 'r["metrics"]["dominant_pattern_share"]' 0.9)" "dominant_pattern_share != 0.9"
else
  check "$m" 'int(r["metrics"]["effective_pattern_count"]) <= int(r["metrics"]["unique_pattern_count"])' \
    "effective_pattern_count > unique_pattern_count"
  check "$m" 'int(r["metrics"]["total_applications"]) >= 100' "total_applications < 100"
fi
diversity=$(get "$m" 'repr(r["metrics"]["diversity_index"])')

step "c. RecordPatternEntropy, GetPatternEntropyHistory"
rec=$(call EntropyService/RecordPatternEntropy "{\"metrics\":$metrics}")
snapshot=$(get "$rec" 'r["id"]')
[[ -n $snapshot ]] || fail "RecordPatternEntropy: empty id"
check "$rec" 'r["metrics"]["id"] == r["id"]' "RecordPatternEntropy: metrics.id"
check "$rec" "$(close 'r["metrics"]["diversity_index"]' "$diversity")" "RecordPatternEntropy: stored diversity_index"
hist=$(call EntropyService/GetPatternEntropyHistory '{"limit":10}')
check "$hist" "any(x['id'] == '$snapshot' and $(close "x['diversity_index']" "$diversity") for x in r['records'])" \
  "GetPatternEntropyHistory: snapshot $snapshot missing"
echo "    snapshot $snapshot"

step "d. CheckEntropyResponseNeeded (threshold 0.5, cooldown 3600 s)"
check_req="{\"job_hash\":\"$job\",\"entropy_threshold\":0.5,\"cooldown_seconds\":3600}"
need=$(call EntropyService/CheckEntropyResponseNeeded "$check_req")
get "$need" '"    needs_response %s, reason %r" % (r["needs_response"], r["reason"])'
check "$need" '"current_entropy" in r' "CheckEntropyResponseNeeded: current_entropy unset"
check "$need" "$(close 'r["current_entropy"]' "$diversity")" "CheckEntropyResponseNeeded: current_entropy"
check "$need" '"cooldown_remaining_seconds" not in r' "CheckEntropyResponseNeeded: cooldown reported before any response"
if [[ $fresh == True ]]; then
  check "$need" 'r["needs_response"] is True and r["reason"] == "Entropy 0.469 < threshold 0.500"' \
    'CheckEntropyResponseNeeded: want needs_response true, reason "Entropy 0.469 < threshold 0.500"'
else
  check "$need" 'r["needs_response"] == (r["current_entropy"] < 0.5) and r["reason"] == ("Entropy %.3f < threshold 0.500" % r["current_entropy"] if r["current_entropy"] < 0.5 else "Entropy %.3f >= threshold 0.500 (healthy)" % r["current_entropy"])' \
    "CheckEntropyResponseNeeded: needs_response / reason"
fi

step "e. TriggerEntropyResponse, then the quarantined pattern is pending"
t=$(call EntropyService/TriggerEntropyResponse "{\"trigger\":{\"job_hash\":\"$job\",\"entropy_at_trigger\":0.469,\"threshold_used\":0.5}}")
get "$t" '"    response %s: actions %s, revisited %s" % (r["record"]["id"], r["record"]["actions_taken"], r["record"]["patterns_revisited"])'
response_id=$(get "$t" 'r["record"]["id"]')
check "$t" 'len(r["record"]["id"]) == 36' "TriggerEntropyResponse: id"
check "$t" "r['record']['job_hash'] == '$job'" "TriggerEntropyResponse: job_hash"
check "$t" "$(close 'r["record"]["entropy_at_trigger"]' 0.469) and $(close 'r["record"]["threshold_used"]' 0.5)" \
  "TriggerEntropyResponse: entropy_at_trigger / threshold_used"
check "$t" 'r["record"]["actions_taken"] == ["ENTROPY_RESPONSE_ACTION_BUDGET_BOOST", "ENTROPY_RESPONSE_ACTION_QUARANTINE_REVISIT"]' \
  "TriggerEntropyResponse: actions_taken"
check "$t" 'r["record"]["budget_boosted"] is True' "TriggerEntropyResponse: budget_boosted"
if [[ $fresh == True ]]; then
  check "$t" "r['record']['patterns_revisited'] == ['$qid']" "TriggerEntropyResponse: patterns_revisited != [$qid]"
else
  check "$t" "'$qid' in r['record']['patterns_revisited']" "TriggerEntropyResponse: $qid not in patterns_revisited"
fi
check "$t" 'r["record"]["quarantine_revisits"] == len(r["record"]["patterns_revisited"])' "TriggerEntropyResponse: quarantine_revisits"
found=""
token=""
while :; do
  page=$(call PatternService/ListPatterns "{\"status\":\"QUARANTINE_STATUS_PENDING\",\"limit\":1000,\"page_token\":\"$token\"}")
  hit=$(get "$page" "json.dumps([p for p in r['patterns'] if p['id'] == '$qid'])")
  [[ $hit != "[]" ]] && found=$hit
  token=$(get "$page" 'r["next_page_token"]')
  [[ -n $token ]] || break
done
[[ -n $found ]] || fail "ListPatterns(PENDING): revisited pattern $qid missing"
check "$found" 'r[0]["quarantine_status"] == "QUARANTINE_STATUS_PENDING" and r[0]["stored_quarantine_status"] == "pending"' \
  "ListPatterns: revisited pattern status"
get "$found" '"    pattern %s is %s: %r" % (r[0]["id"], r[0]["quarantine_status"], r[0].get("quarantine_reason"))'
last=$(call EntropyService/GetLastEntropyResponse "{\"job_hash\":\"$job\"}")
check "$last" "r.get('response', {}).get('id') == '$response_id'" "GetLastEntropyResponse: id"

step "f. GetExplorationBudgetHistory, GetExplorationBudgetStatistics"
bh=$(call BudgetService/GetExplorationBudgetHistory "{\"job_hash\":\"$job\"}")
check "$bh" 'len(r["records"]) == 1' "GetExplorationBudgetHistory: want 1 record"
get "$bh" '"    budget %s %s entropy %s reason %r" % tuple(r["records"][0].get(k) for k in ("budget_value", "adjustment_type", "entropy_at_time", "adjustment_reason"))'
check "$bh" "$(close 'r["records"][0]["budget_value"]' 0.25)" "budget_value != 0.25 (0.15 default + 0.10 boost)"
check "$bh" 'r["records"][0]["adjustment_type"] == "ADJUSTMENT_TYPE_BOOST"' "adjustment_type != BOOST"
check "$bh" 'r["records"][0]["stored_adjustment_type"] == "boost"' "stored_adjustment_type != boost"
check "$bh" "r['records'][0]['job_hash'] == '$job'" "budget job_hash"
check "$bh" "'entropy_at_time' in r['records'][0] and $(close "r['records'][0]['entropy_at_time']" 0.469)" "entropy_at_time != 0.469"
st=$(call BudgetService/GetExplorationBudgetStatistics "{\"job_hash\":\"$job\"}")
check "$st" 'int(r["total_adjustments"]) == 1 and int(r["boost_count"]) == 1' "statistics: want total_adjustments 1, boost_count 1"
check "$st" "'current_budget' in r and $(close 'r["current_budget"]' 0.25) and $(close 'r["avg_budget"]' 0.25)" \
  "statistics: want current_budget 0.25, avg_budget 0.25"

step "g. CheckEntropyResponseNeeded again: cooldown"
again=$(call EntropyService/CheckEntropyResponseNeeded "$check_req")
get "$again" '"    needs_response %s, reason %r" % (r["needs_response"], r["reason"])'
check "$again" 'r["needs_response"] is False and r["reason"].startswith("Cooldown active (")' \
  'second check: want needs_response false, reason "Cooldown active (..."'
check "$again" '0 < r.get("cooldown_remaining_seconds", -1) <= 3600' "second check: cooldown_remaining_seconds"

step "h. invalid requests are INVALID_ARGUMENT and write nothing"
expect_invalid_argument() { # what json
  local out rc=0
  out=$("$GRPCURL" -plaintext -format-error -max-time 10 -d "$2" "$ADDR" learning.v1.BudgetService/UpdateExplorationBudget 2>&1) || rc=$?
  # grpcurl exits with 64 + the status code: INVALID_ARGUMENT (3) is 67.
  [[ $rc -eq 67 ]] || fail "$1: grpcurl exit code $rc, want 67 (INVALID_ARGUMENT): $out"
  check "$out" 'r["code"] == 3' "$1: status code"
  echo "    $1: INVALID_ARGUMENT: $(get "$out" 'r["message"]')"
  check "$out" 'any(v.get("field") for d in r.get("details", []) if d.get("@type", "").endswith("/google.rpc.BadRequest") for v in d.get("field_violations", []))' \
    "$1: INVALID_ARGUMENT without google.rpc.BadRequest field violations"
  get "$out" '"\n".join("      field violation %s: %s" % (v["field"], v["description"]) for d in r.get("details", []) for v in d.get("field_violations", []))'
}
expect_invalid_argument "UpdateExplorationBudget(floor 0.6 > ceiling 0.4)" \
  "{\"job_hash\":\"$job\",\"budget_value\":0.3,\"adjustment_type\":\"ADJUSTMENT_TYPE_BOOST\",\"floor\":0.6,\"ceiling\":0.4}"
expect_invalid_argument 'UpdateExplorationBudget(job_hash "")' \
  '{"job_hash":"","budget_value":0.3,"adjustment_type":"ADJUSTMENT_TYPE_BOOST"}'
after=$(call BudgetService/GetExplorationBudgetHistory "{\"job_hash\":\"$job\"}")
check "$after" 'len(r["records"]) == 1' "budget records after the rejected updates: want 1"

step "i. SubscribePatternEntropy: a snapshot recorded after subscribing arrives, and again on resume"
sub_dir=$(mktemp -d)
sub_pid=""
stop_subscription() {
  if [[ -n $sub_pid ]]; then
    kill "$sub_pid" 2>/dev/null || true
    wait "$sub_pid" 2>/dev/null || true
    sub_pid=""
  fi
}
trap 'stop_subscription; rm -rf "$sub_dir"' EXIT
subscribe() { # json output-file: a grpcurl subscription in the background
  "$GRPCURL" -plaintext -emit-defaults -max-time 30 -d "$1" "$ADDR" learning.v1.EntropyService/SubscribePatternEntropy >"$2" 2>&1 &
  sub_pid=$!
}
AWAIT_PY=$(cat <<'PY'
text, decoder, pos, m = open(sys.argv[1]).read(), json.JSONDecoder(), 0, []
while True:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    try:
        message, pos = decoder.raw_decode(text, pos)
    except ValueError:
        break
    message = snake(message)
    if "progress" not in message:
        m.append(message)
if not eval(sys.argv[2]):
    sys.exit(1)
print(json.dumps(m))
PY
)
# await FILE EXPR WHAT: waits (10 s at most) until EXPR is true of m, the messages that grpcurl
# has printed to FILE so far (progress messages left out); then prints them as a JSON list.
await() {
  local i
  for ((i = 0; i < 100; i++)); do
    python3 -c "$PY_PRELUDE$AWAIT_PY" "$1" "$2" && return 0
    sleep 0.1
  done
  fail "$3; grpcurl printed: $(cat "$1")"
}
subscribe '{}' "$sub_dir/live"
msgs=$(await "$sub_dir/live" 'len(m) >= 1' "SubscribePatternEntropy: no first message")
check "$msgs" '"caught_up" in r[0] and r[0]["cursor"] != ""' "SubscribePatternEntropy: first message (backfill 0) is not caught_up with a cursor"
caught_up_cursor=$(get "$msgs" 'r[0]["cursor"]')
live_id=$(get "$(call EntropyService/RecordPatternEntropy "{\"metrics\":$metrics}")" 'r["id"]')
msgs=$(await "$sub_dir/live" 'len(m) >= 2' "SubscribePatternEntropy: nothing after RecordPatternEntropy")
check "$msgs" "r[1].get('snapshot', {}).get('id') == '$live_id' and $(close "r[1]['snapshot']['diversity_index']" "$diversity")" \
  "SubscribePatternEntropy: message after RecordPatternEntropy is not snapshot $live_id"
check "$msgs" 'r[1]["cursor"] not in ("", r[0]["cursor"])' "SubscribePatternEntropy: snapshot cursor"
snapshot_cursor=$(get "$msgs" 'r[1]["cursor"]')
echo "    received snapshot $live_id (cursor $snapshot_cursor)"
stop_subscription
subscribe "{\"after_cursor\":\"$caught_up_cursor\"}" "$sub_dir/resumed"
msgs=$(await "$sub_dir/resumed" 'len(m) >= 2' "resumed SubscribePatternEntropy: fewer than 2 messages")
check "$msgs" "r[0].get('snapshot', {}).get('id') == '$live_id' and r[0]['cursor'] == '$snapshot_cursor' and 'caught_up' in r[1]" \
  "resumed SubscribePatternEntropy: want snapshot $live_id (cursor $snapshot_cursor), then caught_up"
stop_subscription
echo "    resumed after $caught_up_cursor: got $live_id again, then caught_up"

echo "grpcurl story: all checks passed"
