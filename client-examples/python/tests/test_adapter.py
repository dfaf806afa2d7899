"""The learning.v1 story through the drop-in adapter, against a live server ($LEARNING_SERVER).

The tests of this module run in file order and share one story (one job hash, three
patterns). Exact entropy values are checked only when the server starts with no patterns.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta

import grpc
import pytest

from learning_client import (
    EntropyResponseRecord,
    ExplorationBudgetRecord,
    InvalidArgumentError,
    PatternEntropyMetrics,
    snapshot_id,
)
from learning_client.v1 import learning_pb2 as pb
from learning_client.v1 import learning_pb2_grpc as pb_grpc

RUN = f"python-adapter-{uuid.uuid4().hex[:8]}"
JOB = f"job-{RUN}"


@pytest.fixture(scope="module")
def story(client):
    """Step a: three patterns (one quarantined), 90 + 10 applications."""
    fresh = client.calculate_pattern_entropy().unique_pattern_count == 0
    patterns = pb_grpc.PatternServiceStub(client.channel)
    ids = {}
    for name in ("dominant", "rare", "quarantined"):
        ids[name] = patterns.RecordPattern(
            pb.RecordPatternRequest(pattern_type="example", pattern_name=f"{RUN}-{name}"), timeout=10
        ).pattern.id
    patterns.SetPatternQuarantineStatus(
        pb.SetPatternQuarantineStatusRequest(pattern_id=ids["quarantined"], status=pb.QUARANTINE_STATUS_QUARANTINED),
        timeout=10,
    )
    for name, count in (("dominant", 90), ("rare", 10)):
        for i in range(count):
            patterns.RecordPatternApplication(
                pb.RecordPatternApplicationRequest(pattern_id=ids[name], execution_id=f"{RUN}-{i}"), timeout=10
            )
    return {"fresh": fresh, "ids": ids, "patterns": patterns}


def recent(dt: datetime) -> bool:
    """A naive local datetime within a minute of now, like the original's timestamps."""
    return dt.tzinfo is None and abs(datetime.now() - dt) < timedelta(minutes=1)


def test_b_calculate_pattern_entropy(client, story, record_classes):
    m = client.calculate_pattern_entropy()
    assert type(m) is record_classes.PatternEntropyMetrics and isinstance(m, PatternEntropyMetrics)
    assert recent(m.calculated_at)
    assert snapshot_id(m) is None and m.threshold_exceeded is False
    if story["fresh"]:
        assert m.shannon_entropy == pytest.approx(0.468996, abs=1e-6)
        assert m.diversity_index == pytest.approx(0.468996, abs=1e-6)
        assert m.max_possible_entropy == pytest.approx(1.0)
        assert (m.effective_pattern_count, m.unique_pattern_count, m.total_applications) == (2, 3, 100)
        assert m.dominant_pattern_share == pytest.approx(0.9)
    else:
        assert m.total_applications >= 100 and m.unique_pattern_count >= 3
    story["metrics"] = m


def test_c_record_and_history(client, story):
    m = story["metrics"]
    recorded_id = client.record_pattern_entropy(m)
    assert isinstance(recorded_id, str) and len(recorded_id) == 36
    history = client.get_pattern_entropy_history(limit=10)
    assert all(isinstance(h, PatternEntropyMetrics) for h in history)
    mine = [h for h in history if snapshot_id(h) == recorded_id]
    assert mine, f"snapshot {recorded_id} not in history"
    # Equal to what was recorded: the id travels beside the fields, not in ==, repr or asdict.
    assert mine[0] == m
    assert recorded_id not in repr(mine[0]) and recorded_id not in str(dataclasses.asdict(mine[0]))
    assert client.get_pattern_entropy_history(limit=0) == []


def test_d_check_needed(client, story):
    needed, entropy, reason = client.check_entropy_response_needed(JOB, entropy_threshold=0.5, cooldown_seconds=3600)
    assert entropy == pytest.approx(story["metrics"].diversity_index, abs=1e-9)
    if story["fresh"]:
        assert (needed, reason) == (True, "Entropy 0.469 < threshold 0.500")
    else:
        assert needed == (entropy < 0.5)


def test_e_trigger_response(client, story, record_classes, argument_classes):
    # The original's trigger context when it is installed: any object with its attributes works.
    record = client.trigger_entropy_response(trigger=argument_classes.EntropyTriggerContext(JOB, 0.469, 0.5))
    assert type(record) is record_classes.EntropyResponseRecord and isinstance(record, EntropyResponseRecord)
    assert record.job_hash == JOB and recent(record.recorded_at)
    assert record.actions_taken == ["budget_boost", "quarantine_revisit"]
    assert record.budget_boosted is True
    qid = story["ids"]["quarantined"]
    if story["fresh"]:
        assert record.patterns_revisited == [qid]
    assert qid in record.patterns_revisited
    assert record.quarantine_revisits == len(record.patterns_revisited)
    listed = story["patterns"].ListPatterns(pb.ListPatternsRequest(status=pb.QUARANTINE_STATUS_PENDING, limit=1000))
    assert qid in {p.id for p in listed.patterns}
    assert client.get_last_entropy_response(JOB) == record
    assert client.get_entropy_response_history(JOB) == [record]
    stats = client.get_entropy_response_statistics(JOB)
    assert list(stats) == [
        "total_responses",
        "avg_entropy_at_trigger",
        "budget_boosts",
        "quarantine_revisits",
        "last_response",
    ]
    assert stats["total_responses"] == 1 and stats["budget_boosts"] == 1
    assert stats["avg_entropy_at_trigger"] == pytest.approx(0.469)
    assert stats["quarantine_revisits"] == record.quarantine_revisits
    assert stats["last_response"] == record.recorded_at.isoformat()


def test_f_budget_after_response(client, story, record_classes):
    history = client.get_exploration_budget_history(JOB)
    assert len(history) == 1
    b = history[0]
    assert type(b) is record_classes.ExplorationBudgetRecord and isinstance(b, ExplorationBudgetRecord)
    assert b.budget_value == pytest.approx(0.25)
    assert b.adjustment_type == "boost"
    assert b.entropy_at_time == pytest.approx(0.469)
    assert b.adjustment_reason == "Entropy response: diversity 0.469 < 0.500"
    assert recent(b.recorded_at)
    assert client.get_exploration_budget(JOB) == b
    stats = client.get_exploration_budget_statistics(JOB)
    assert list(stats) == [
        "current_budget",
        "avg_budget",
        "min_budget",
        "max_budget",
        "total_adjustments",
        "floor_enforcements",
        "boost_count",
        "decay_count",
    ]
    assert stats["total_adjustments"] == 1 and stats["boost_count"] == 1
    assert stats["current_budget"] == pytest.approx(0.25)


def test_g_cooldown(client, story):
    needed, _entropy, reason = client.check_entropy_response_needed(JOB, entropy_threshold=0.5, cooldown_seconds=3600)
    assert needed is False
    assert reason.startswith("Cooldown active (")


def test_h_invalid_arguments_raise_value_error(client, story):
    with pytest.raises(InvalidArgumentError) as err:
        client.update_exploration_budget(JOB, 0.3, "boost", floor=0.6, ceiling=0.4)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert isinstance(err.value, ValueError)
    print(f"floor > ceiling: {err.value} {err.value.field_violations}")
    with pytest.raises(ValueError):
        client.update_exploration_budget("", 0.3, "boost")
    with pytest.raises(ValueError):
        client.update_exploration_budget(JOB, 0.3, "sideways")
    assert len(client.get_exploration_budget_history(JOB)) == 1


def test_i_subscribe_pattern_entropy(client, story):
    # Not one of the original's methods: the raw stub, on the adapter's channel.
    entropy = pb_grpc.EntropyServiceStub(client.channel)

    def next_event(stream):
        return next(m for m in stream if m.WhichOneof("event") != "progress")

    stream = entropy.SubscribePatternEntropy(pb.SubscribePatternEntropyRequest(), timeout=30)
    try:
        assert next_event(stream).WhichOneof("event") == "caught_up"
        recorded_id = client.record_pattern_entropy(story["metrics"])
        event = next_event(stream)
        assert event.WhichOneof("event") == "snapshot" and event.snapshot.id == recorded_id
    finally:
        stream.cancel()


# --- the rest of the adapter, on a job of its own ---------------------------------------


def test_budget_adjustment_sequence(client):
    job = f"{JOB}-budget"
    assert client.get_exploration_budget(job) is None
    assert client.get_exploration_budget_history(job) == []
    assert client.get_exploration_budget_statistics(job) == {
        "current_budget": None,
        "avg_budget": 0.0,
        "min_budget": 0.0,
        "max_budget": 0.0,
        "total_adjustments": 0,
        "floor_enforcements": 0,
        "boost_count": 0,
        "decay_count": 0,
    }
    first = client.calculate_budget_adjustment(job, 0.5)
    assert (first.budget_value, first.adjustment_type, first.adjustment_reason) == (
        pytest.approx(0.15),
        "initial",
        "Initial budget set",
    )
    boosted = client.calculate_budget_adjustment(job, 0.12)
    assert boosted.budget_value == pytest.approx(0.25)
    assert (boosted.adjustment_type, boosted.adjustment_reason) == ("boost", "Entropy 0.120 < threshold 0.300")
    decayed = client.calculate_budget_adjustment(job, 0.8, decay_rate=0.9)
    assert decayed.budget_value == pytest.approx(0.225)
    assert decayed.adjustment_type == "decay"
    assert decayed.adjustment_reason.startswith("Entropy 0.800 >= threshold")
    clamped = client.update_exploration_budget(job, 0.55, "boost", entropy_at_time=0.1, adjustment_reason="manual")
    assert (clamped.budget_value, clamped.adjustment_type, clamped.adjustment_reason) == (
        0.5,
        "ceiling_enforced",
        "Budget 0.550 enforced to ceiling 0.500",
    )
    floored = client.update_exploration_budget(job, 0.01, "decay")
    assert (floored.budget_value, floored.adjustment_type, floored.adjustment_reason) == (
        0.05,
        "floor_enforced",
        "Budget 0.010 enforced to floor 0.050",
    )
    history = client.get_exploration_budget_history(job)
    assert [h.id for h in history] == [floored.id, clamped.id, decayed.id, boosted.id, first.id]
    assert [h.id for h in client.get_exploration_budget_history(job, limit=2)] == [floored.id, clamped.id]
    assert len(client.get_exploration_budget_history(job, limit=-1)) == 5
    assert client.get_exploration_budget_history(job, limit=0) == []
    stats = client.get_exploration_budget_statistics(job)
    assert stats["total_adjustments"] == 5
    assert (stats["floor_enforcements"], stats["boost_count"], stats["decay_count"]) == (1, 1, 1)
    assert stats["current_budget"] == pytest.approx(0.05)
    assert stats["min_budget"] == pytest.approx(0.05) and stats["max_budget"] == pytest.approx(0.5)
    assert stats["avg_budget"] == pytest.approx((0.15 + 0.25 + 0.225 + 0.5 + 0.05) / 5)


def test_trigger_positional_with_config_and_overrides(client, argument_classes):
    job = f"{JOB}-trigger"
    config_class = argument_classes.EntropyResponseConfig  # the original's when it is installed
    cfg = config_class(revisit_quarantine=False, budget_boost_amount=0.2)
    record = client.trigger_entropy_response(job, 0.05, 0.1, config=cfg, budget_ceiling=0.3)
    assert cfg == config_class(revisit_quarantine=False, budget_boost_amount=0.2)  # not mutated
    assert record.job_hash == job and record.entropy_at_trigger == pytest.approx(0.05)
    assert record.actions_taken == ["budget_boost"]
    assert record.patterns_revisited == [] and record.quarantine_revisits == 0
    budget = client.get_exploration_budget(job)
    # 0.15 + 0.2 = 0.35, clamped to the overriding ceiling 0.3.
    assert (budget.budget_value, budget.adjustment_type) == (pytest.approx(0.3), "ceiling_enforced")
    nothing = client.trigger_entropy_response(job, 0.05, 0.1, boost_budget=False, revisit_quarantine=False)
    assert nothing.actions_taken == [] and nothing.budget_boosted is False
    assert [r.id for r in client.get_entropy_response_history(job)] == [nothing.id, record.id]
    assert client.get_entropy_response_statistics(f"{job}-none") == {
        "total_responses": 0,
        "avg_entropy_at_trigger": 0.0,
        "budget_boosts": 0,
        "quarantine_revisits": 0,
        "last_response": None,
    }
    with pytest.raises(ValueError):
        client.trigger_entropy_response("", 0.05, 0.1)
