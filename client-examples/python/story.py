#!/usr/bin/env python3
"""The learning.v1 story over the generated Python stubs, every answer checked.

Server address: $LEARNING_SERVER (default 127.0.0.1:50051). Exits 1 with a message on the
first answer that differs from the contract. Exact entropy values are checked only when the
server starts with an empty pattern table (run-all.sh gives each example a fresh database).
"""

from __future__ import annotations

import math
import os
import sys
import uuid
from collections.abc import Iterator
from typing import Any, TypeVar

import grpc

from learning_client import field_violations
from learning_client.v1 import learning_pb2 as pb
from learning_client.v1 import learning_pb2_grpc as pb_grpc

ADDRESS = os.environ.get("LEARNING_SERVER", "127.0.0.1:50051")
TIMEOUT = 10.0
_Request = TypeVar("_Request")


class CheckFailed(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def check_close(actual: float, expected: float, what: str, tol: float = 1e-6) -> None:
    check(math.isclose(actual, expected, rel_tol=0, abs_tol=tol), f"{what}: got {actual!r}, want {expected!r} (±{tol})")


def check_eq(actual: object, expected: object, what: str) -> None:
    check(actual == expected, f"{what}: got {actual!r}, want {expected!r}")


def step(name: str) -> None:
    print(f"--- {name}", flush=True)


def list_all_patterns(
    patterns: pb_grpc.PatternServiceStub, status: pb.QuarantineStatus.ValueType | None = None
) -> list[pb.Pattern]:
    out: list[pb.Pattern] = []
    token = ""
    while True:
        req = pb.ListPatternsRequest(limit=1000, page_token=token)
        if status is not None:
            req.status = status
        resp = patterns.ListPatterns(req, timeout=TIMEOUT)
        out.extend(resp.patterns)
        token = resp.next_page_token
        if not token:
            return out


def next_event(stream: Iterator[pb.SubscribePatternEntropyResponse]) -> pb.SubscribePatternEntropyResponse:
    """The next message of a Subscribe stream that is not a keep-alive progress message."""
    for message in stream:
        if message.WhichOneof("event") != "progress":
            return message
    raise CheckFailed("the stream ended")


def expect_invalid_argument(
    call: grpc.UnaryUnaryMultiCallable[_Request, Any], request: _Request, what: str
) -> None:
    try:
        call(request, timeout=TIMEOUT)
    except grpc.RpcError as err:
        if not isinstance(err, grpc.Call):  # what every stub raises is both
            raise CheckFailed(f"{what}: {err!r} carries no status") from None
        check_eq(err.code(), grpc.StatusCode.INVALID_ARGUMENT, f"{what}: status code")
        print(f"    {what}: {err.code().name}: {err.details()}")
        fields = field_violations(err)
        for field, description in fields:
            print(f"      field violation {field}: {description}")
        check(bool(fields), f"{what}: INVALID_ARGUMENT without google.rpc.BadRequest field violations")
        return
    raise CheckFailed(f"{what}: the call succeeded, want INVALID_ARGUMENT")


def story() -> None:
    channel = grpc.insecure_channel(ADDRESS)
    try:
        grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
    except grpc.FutureTimeoutError:
        raise CheckFailed(f"no gRPC server at {ADDRESS} (set LEARNING_SERVER)") from None
    patterns = pb_grpc.PatternServiceStub(channel)
    entropy = pb_grpc.EntropyServiceStub(channel)
    budget = pb_grpc.BudgetServiceStub(channel)

    run = f"python-{uuid.uuid4().hex[:8]}"
    job = f"job-{run}"
    print(f"server {ADDRESS}, job_hash {job}")

    before = entropy.CalculatePatternEntropy(pb.CalculatePatternEntropyRequest(), timeout=TIMEOUT).metrics
    fresh = before.unique_pattern_count == 0
    if not fresh:
        print(f"    the server already knows {before.unique_pattern_count} patterns: exact entropy checks skipped")

    step("a. record 3 patterns, quarantine one, record 90 + 10 applications")
    created = {}
    for name in ("dominant", "rare", "quarantined"):
        p = patterns.RecordPattern(
            pb.RecordPatternRequest(pattern_type="example", pattern_name=f"{run}-{name}", description=f"{name} pattern"),
            timeout=TIMEOUT,
        ).pattern
        check(len(p.id) == 36, f"RecordPattern {name}: id {p.id!r} is not a UUID")
        check_eq(p.quarantine_status, pb.QUARANTINE_STATUS_PENDING, f"RecordPattern {name}: status")
        check_eq(p.application_count, 0, f"RecordPattern {name}: application_count")
        created[name] = p
    q = patterns.SetPatternQuarantineStatus(
        pb.SetPatternQuarantineStatusRequest(
            pattern_id=created["quarantined"].id, status=pb.QUARANTINE_STATUS_QUARANTINED, reason="story: suspicious"
        ),
        timeout=TIMEOUT,
    ).pattern
    check_eq(q.quarantine_status, pb.QUARANTINE_STATUS_QUARANTINED, "SetPatternQuarantineStatus: status")
    check_eq(q.stored_quarantine_status, "quarantined", "SetPatternQuarantineStatus: stored status")
    for name, count in (("dominant", 90), ("rare", 10)):
        for i in range(count):
            r = patterns.RecordPatternApplication(
                pb.RecordPatternApplicationRequest(
                    pattern_id=created[name].id, execution_id=f"{run}-exec-{i}", pattern_led_to_success=i % 4 != 0
                ),
                timeout=TIMEOUT,
            )
        check(bool(r.application_id), f"RecordPatternApplication {name}: empty application_id")
        check_eq(r.application_count, count, f"RecordPatternApplication {name}: application_count")
    print(f"    patterns {created['dominant'].id} x90, {created['rare'].id} x10, {created['quarantined'].id} quarantined")

    step("b. CalculatePatternEntropy")
    m = entropy.CalculatePatternEntropy(pb.CalculatePatternEntropyRequest(), timeout=TIMEOUT).metrics
    print(
        f"    shannon {m.shannon_entropy:.6f} diversity {m.diversity_index:.6f} effective {m.effective_pattern_count} "
        f"unique {m.unique_pattern_count} total {m.total_applications} dominant {m.dominant_pattern_share:.6f}"
    )
    check_eq(m.id, "", "CalculatePatternEntropy: id of an unrecorded snapshot")
    check(m.HasField("calculated_at"), "CalculatePatternEntropy: calculated_at unset")
    check(not m.threshold_exceeded, "CalculatePatternEntropy: threshold_exceeded without alert_threshold")
    if fresh:
        check_close(m.shannon_entropy, 0.468996, "shannon_entropy")
        check_close(m.max_possible_entropy, 1.0, "max_possible_entropy")
        check_close(m.diversity_index, 0.468996, "diversity_index")
        check_eq(m.effective_pattern_count, 2, "effective_pattern_count")
        check_eq(m.unique_pattern_count, 3, "unique_pattern_count")
        check_eq(m.total_applications, 100, "total_applications")
        check_close(m.dominant_pattern_share, 0.9, "dominant_pattern_share")
    else:
        check(m.unique_pattern_count >= before.unique_pattern_count + 3, "unique_pattern_count did not grow by 3")
        check(m.total_applications >= before.total_applications + 100, "total_applications did not grow by 100")
        check(m.effective_pattern_count <= m.unique_pattern_count, "effective_pattern_count > unique_pattern_count")
        if m.max_possible_entropy > 0:
            check_close(m.diversity_index, m.shannon_entropy / m.max_possible_entropy, "diversity = H / Hmax")
    diversity = m.diversity_index

    step("c. RecordPatternEntropy, GetPatternEntropyHistory")
    recorded = entropy.RecordPatternEntropy(pb.RecordPatternEntropyRequest(metrics=m), timeout=TIMEOUT)
    check(bool(recorded.id), "RecordPatternEntropy: empty id")
    check_eq(recorded.metrics.id, recorded.id, "RecordPatternEntropy: metrics.id")
    check_close(recorded.metrics.diversity_index, diversity, "RecordPatternEntropy: stored diversity_index")
    history = entropy.GetPatternEntropyHistory(pb.GetPatternEntropyHistoryRequest(limit=10), timeout=TIMEOUT).records
    found = [r for r in history if r.id == recorded.id]
    check(bool(found), f"GetPatternEntropyHistory: snapshot {recorded.id} missing from {[r.id for r in history]}")
    check_close(found[0].diversity_index, diversity, "GetPatternEntropyHistory: diversity_index")
    check_eq(found[0].total_applications, m.total_applications, "GetPatternEntropyHistory: total_applications")
    print(f"    snapshot {recorded.id}")

    step("d. CheckEntropyResponseNeeded (threshold 0.5, cooldown 3600 s)")
    need = entropy.CheckEntropyResponseNeeded(
        pb.CheckEntropyResponseNeededRequest(job_hash=job, entropy_threshold=0.5, cooldown_seconds=3600),
        timeout=TIMEOUT,
    )
    print(f"    needs_response {need.needs_response}, reason {need.reason!r}")
    check(need.HasField("current_entropy"), "CheckEntropyResponseNeeded: current_entropy unset")
    check_close(need.current_entropy, diversity, "CheckEntropyResponseNeeded: current_entropy")
    check(not need.HasField("cooldown_remaining_seconds"), "CheckEntropyResponseNeeded: cooldown reported before any response")
    if fresh:
        check_eq(need.needs_response, True, "CheckEntropyResponseNeeded: needs_response")
        check_eq(need.reason, "Entropy 0.469 < threshold 0.500", "CheckEntropyResponseNeeded: reason")
    elif need.current_entropy < 0.5:
        check_eq(need.needs_response, True, "CheckEntropyResponseNeeded: needs_response")
        check_eq(need.reason, f"Entropy {need.current_entropy:.3f} < threshold 0.500", "CheckEntropyResponseNeeded: reason")
    else:
        check_eq(need.needs_response, False, "CheckEntropyResponseNeeded: needs_response")
        check_eq(
            need.reason, f"Entropy {need.current_entropy:.3f} >= threshold 0.500 (healthy)", "CheckEntropyResponseNeeded: reason"
        )

    step("e. TriggerEntropyResponse, then the quarantined pattern is pending")
    record = entropy.TriggerEntropyResponse(
        pb.TriggerEntropyResponseRequest(
            trigger=pb.EntropyTriggerContext(job_hash=job, entropy_at_trigger=0.469, threshold_used=0.5)
        ),
        timeout=TIMEOUT,
    ).record
    actions = [pb.EntropyResponseAction.Name(a) for a in record.actions_taken]
    print(f"    response {record.id}: actions {actions}, revisited {list(record.patterns_revisited)}")
    check(len(record.id) == 36, f"TriggerEntropyResponse: id {record.id!r}")
    check_eq(record.job_hash, job, "TriggerEntropyResponse: job_hash")
    check_close(record.entropy_at_trigger, 0.469, "TriggerEntropyResponse: entropy_at_trigger")
    check_close(record.threshold_used, 0.5, "TriggerEntropyResponse: threshold_used")
    check_eq(
        actions,
        ["ENTROPY_RESPONSE_ACTION_BUDGET_BOOST", "ENTROPY_RESPONSE_ACTION_QUARANTINE_REVISIT"],
        "TriggerEntropyResponse: actions_taken",
    )
    check_eq(record.budget_boosted, True, "TriggerEntropyResponse: budget_boosted")
    qid = created["quarantined"].id
    if fresh:
        check_eq(list(record.patterns_revisited), [qid], "TriggerEntropyResponse: patterns_revisited")
    else:
        check(qid in record.patterns_revisited, f"TriggerEntropyResponse: {qid} not in patterns_revisited")
    check_eq(record.quarantine_revisits, len(record.patterns_revisited), "TriggerEntropyResponse: quarantine_revisits")
    pending = {p.id: p for p in list_all_patterns(patterns, pb.QUARANTINE_STATUS_PENDING)}
    check(qid in pending, f"ListPatterns(PENDING): revisited pattern {qid} missing")
    check_eq(pending[qid].quarantine_status, pb.QUARANTINE_STATUS_PENDING, "ListPatterns: revisited pattern status")
    check_eq(pending[qid].stored_quarantine_status, "pending", "ListPatterns: revisited pattern stored status")
    print(f"    pattern {qid} is {pb.QuarantineStatus.Name(pending[qid].quarantine_status)}: {pending[qid].quarantine_reason!r}")
    last = entropy.GetLastEntropyResponse(pb.GetLastEntropyResponseRequest(job_hash=job), timeout=TIMEOUT)
    check(last.HasField("response"), "GetLastEntropyResponse: unset")
    check_eq(last.response.id, record.id, "GetLastEntropyResponse: id")

    step("f. GetExplorationBudgetHistory, GetExplorationBudgetStatistics")
    records = budget.GetExplorationBudgetHistory(
        pb.GetExplorationBudgetHistoryRequest(job_hash=job), timeout=TIMEOUT
    ).records
    check_eq(len(records), 1, "GetExplorationBudgetHistory: number of records")
    b = records[0]
    print(
        f"    budget {b.budget_value} {pb.AdjustmentType.Name(b.adjustment_type)} "
        f"entropy {b.entropy_at_time} reason {b.adjustment_reason!r}"
    )
    check_close(b.budget_value, 0.25, "budget_value (0.15 default + 0.10 boost)")
    check_eq(b.adjustment_type, pb.ADJUSTMENT_TYPE_BOOST, "adjustment_type")
    check_eq(b.stored_adjustment_type, "boost", "stored_adjustment_type")
    check_eq(b.job_hash, job, "budget job_hash")
    check(b.HasField("entropy_at_time"), "entropy_at_time unset")
    check_close(b.entropy_at_time, 0.469, "entropy_at_time")
    stats = budget.GetExplorationBudgetStatistics(
        pb.GetExplorationBudgetStatisticsRequest(job_hash=job), timeout=TIMEOUT
    )
    check_eq(stats.total_adjustments, 1, "statistics total_adjustments")
    check_eq(stats.boost_count, 1, "statistics boost_count")
    check(stats.HasField("current_budget"), "statistics current_budget unset")
    check_close(stats.current_budget, 0.25, "statistics current_budget")
    check_close(stats.avg_budget, 0.25, "statistics avg_budget")

    step("g. CheckEntropyResponseNeeded again: cooldown")
    again = entropy.CheckEntropyResponseNeeded(
        pb.CheckEntropyResponseNeededRequest(job_hash=job, entropy_threshold=0.5, cooldown_seconds=3600),
        timeout=TIMEOUT,
    )
    print(f"    needs_response {again.needs_response}, reason {again.reason!r}")
    check_eq(again.needs_response, False, "second check: needs_response")
    check(again.reason.startswith("Cooldown active ("), f"second check: reason {again.reason!r}")
    check(again.HasField("cooldown_remaining_seconds"), "second check: cooldown_remaining_seconds unset")
    check(
        0 < again.cooldown_remaining_seconds <= 3600,
        f"second check: cooldown_remaining_seconds {again.cooldown_remaining_seconds}",
    )

    step("h. invalid requests are INVALID_ARGUMENT and write nothing")
    expect_invalid_argument(
        budget.UpdateExplorationBudget,
        pb.UpdateExplorationBudgetRequest(
            job_hash=job, budget_value=0.3, adjustment_type=pb.ADJUSTMENT_TYPE_BOOST, floor=0.6, ceiling=0.4
        ),
        "UpdateExplorationBudget(floor 0.6 > ceiling 0.4)",
    )
    expect_invalid_argument(
        budget.UpdateExplorationBudget,
        pb.UpdateExplorationBudgetRequest(job_hash="", budget_value=0.3, adjustment_type=pb.ADJUSTMENT_TYPE_BOOST),
        'UpdateExplorationBudget(job_hash "")',
    )
    after = budget.GetExplorationBudgetHistory(pb.GetExplorationBudgetHistoryRequest(job_hash=job), timeout=TIMEOUT)
    check_eq(len(after.records), 1, "budget records after the rejected updates")

    step("i. SubscribePatternEntropy: a snapshot recorded after subscribing arrives, and again on resume")
    stream = entropy.SubscribePatternEntropy(pb.SubscribePatternEntropyRequest(), timeout=30)
    try:
        first = next_event(stream)
        check_eq(first.WhichOneof("event"), "caught_up", "SubscribePatternEntropy: first message (backfill 0)")
        check(bool(first.cursor), "SubscribePatternEntropy: caught_up without a cursor")
        live = entropy.RecordPatternEntropy(pb.RecordPatternEntropyRequest(metrics=m), timeout=TIMEOUT)
        event = next_event(stream)
        check_eq(event.WhichOneof("event"), "snapshot", "SubscribePatternEntropy: message after RecordPatternEntropy")
        check_eq(event.snapshot.id, live.id, "SubscribePatternEntropy: snapshot id")
        check_close(event.snapshot.diversity_index, diversity, "SubscribePatternEntropy: snapshot diversity_index")
        check(bool(event.cursor) and event.cursor != first.cursor, "SubscribePatternEntropy: snapshot cursor")
        print(f"    received snapshot {event.snapshot.id} (cursor {event.cursor})")
    finally:
        stream.cancel()
    resumed = entropy.SubscribePatternEntropy(pb.SubscribePatternEntropyRequest(after_cursor=first.cursor), timeout=30)
    try:
        again_event = next_event(resumed)
        check_eq(again_event.WhichOneof("event"), "snapshot", "resumed SubscribePatternEntropy: first message")
        check_eq(again_event.snapshot.id, live.id, "resumed SubscribePatternEntropy: snapshot id")
        check_eq(again_event.cursor, event.cursor, "resumed SubscribePatternEntropy: cursor")
        check_eq(next_event(resumed).WhichOneof("event"), "caught_up", "resumed SubscribePatternEntropy: then caught_up")
        print(f"    resumed after {first.cursor}: got {again_event.snapshot.id} again, then caught_up")
    finally:
        resumed.cancel()
    channel.close()


def main() -> int:
    try:
        story()
    except CheckFailed as err:
        print(f"FAIL: {err}", file=sys.stderr)
        return 1
    except grpc.RpcError as err:
        code, details = (err.code().name, err.details()) if isinstance(err, grpc.Call) else ("?", repr(err))
        print(f"FAIL: unexpected RPC error {code}: {details}", file=sys.stderr)
        return 1
    print("python story: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
