"""Drop-in replacement for the budget and entropy-response methods of the original store.

``GlobalLearningStoreClient`` has the 13 methods of the original ``BudgetMixin`` with the same
names, parameters, defaults and return types (the original's record classes when it is
installed, naive local datetimes, lowercase type strings, statistics dicts with the original
keys), but every call goes to a learning-service over gRPC instead of a local SQLite file.

Differences a caller can notice, all coming from the service's contract (learning.v1):

* Invalid arguments raise ``InvalidArgumentError`` (a ``ValueError``) instead of being stored:
  non-finite numbers, fractions outside [0, 1], floor > ceiling, an empty required
  ``job_hash``, an ``adjustment_type`` other than the five known ones.
* A required ``job_hash`` is never a filter: ``check_entropy_response_needed("")`` and
  ``trigger_entropy_response("")`` are rejected instead of reading every job's data.
* ``check_entropy_response_needed`` also reports the current entropy during a cooldown
  (the original returned ``None`` there).
* The records are the original's classes when ``marianne.learning.store.models`` is
  importable, and look-alikes of the same shape otherwise (see ``learning_client.records``).
  The id of a recorded entropy snapshot, which the original's ``PatternEntropyMetrics`` has no
  field for, is read with ``learning_client.snapshot_id(metrics)``.
* "Latest" and history order are insertion order, not timestamp text order.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from .records import (
    EntropyResponseRecord,
    ExplorationBudgetRecord,
    PatternEntropyMetrics,
    _with_snapshot_id,
)
from .v1 import learning_pb2 as pb
from .v1 import learning_pb2_grpc as pb_grpc

DEFAULT_ADDRESS = "127.0.0.1:50051"
_PAGE_MAX = 1000
_Request = TypeVar("_Request")
_Response = TypeVar("_Response")
_Item = TypeVar("_Item", covariant=True)
_RequestIn = TypeVar("_RequestIn", contravariant=True)
_ResponseOut = TypeVar("_ResponseOut", covariant=True)


class _UnaryRpc(Protocol[_RequestIn, _ResponseOut]):
    """A unary RPC of a generated stub, called the way the adapter calls it."""

    def __call__(
        self,
        request: _RequestIn,
        *,
        timeout: float | None = ...,
        metadata: tuple[tuple[str, str], ...] | None = ...,
    ) -> _ResponseOut: ...


class _Page(Protocol[_Item]):
    """A response of a history RPC: one page of records and the token of the next one."""

    @property
    def records(self) -> Sequence[_Item]: ...
    @property
    def next_page_token(self) -> str: ...

# --- arguments of trigger_entropy_response --------------------------------------------------
# The original defines these two in its budget module. The adapter takes its instances as well
# as these: any object with the attributes of the protocols below.


@dataclass
class EntropyResponseConfig:
    boost_budget: bool = True
    revisit_quarantine: bool = True
    max_quarantine_revisits: int = 3
    budget_floor: float = 0.05
    budget_ceiling: float = 0.5
    budget_boost_amount: float = 0.1


@dataclass
class EntropyTriggerContext:
    job_hash: str
    entropy_at_trigger: float
    threshold_used: float


class TriggerContextLike(Protocol):
    """Any trigger context: this module's ``EntropyTriggerContext`` or the original's."""

    @property
    def job_hash(self) -> str: ...
    @property
    def entropy_at_trigger(self) -> float: ...
    @property
    def threshold_used(self) -> float: ...


class ResponseConfigLike(Protocol):
    """Any response config: this module's ``EntropyResponseConfig`` or the original's."""

    @property
    def boost_budget(self) -> bool: ...
    @property
    def revisit_quarantine(self) -> bool: ...
    @property
    def max_quarantine_revisits(self) -> int: ...
    @property
    def budget_floor(self) -> float: ...
    @property
    def budget_ceiling(self) -> float: ...
    @property
    def budget_boost_amount(self) -> float: ...


# --- errors -------------------------------------------------------------------------------


class LearningServiceError(Exception):
    """A gRPC call failed. ``code`` is the grpc.StatusCode, ``field_violations`` the
    (field, description) pairs of a google.rpc.BadRequest detail, if any."""

    def __init__(self, code: grpc.StatusCode, message: str, field_violations: list[tuple[str, str]]):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.field_violations = field_violations


class InvalidArgumentError(LearningServiceError, ValueError):
    """The service rejected an argument (INVALID_ARGUMENT); nothing was written."""


class NotFoundError(LearningServiceError, LookupError):
    """NOT_FOUND."""


def field_violations(err: grpc.RpcError) -> list[tuple[str, str]]:
    """The (field, description) pairs of the google.rpc.BadRequest details of a failed call."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    if not isinstance(err, grpc.Call):
        return []
    status = rpc_status.from_call(err)
    out: list[tuple[str, str]] = []
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out += [(v.field, v.description) for v in bad.field_violations]
    return out


def _translate(err: grpc.RpcError) -> LearningServiceError:
    # Every RpcError that a stub raises is also a grpc.Call (code, details, trailers).
    code = err.code() if isinstance(err, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = (err.details() if isinstance(err, grpc.Call) else None) or ""
    cls = {
        grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
        grpc.StatusCode.NOT_FOUND: NotFoundError,
    }.get(code, LearningServiceError)
    return cls(code, details, field_violations(err))


# --- conversions --------------------------------------------------------------------------

_TYPE_TO_ENUM: dict[str, pb.AdjustmentType.ValueType] = {
    "initial": pb.ADJUSTMENT_TYPE_INITIAL,
    "decay": pb.ADJUSTMENT_TYPE_DECAY,
    "boost": pb.ADJUSTMENT_TYPE_BOOST,
    "floor_enforced": pb.ADJUSTMENT_TYPE_FLOOR_ENFORCED,
    "ceiling_enforced": pb.ADJUSTMENT_TYPE_CEILING_ENFORCED,
}
_ENUM_TO_TYPE = {v: k for k, v in _TYPE_TO_ENUM.items()}
_ACTION_TO_TEXT: dict[pb.EntropyResponseAction.ValueType, str] = {
    pb.ENTROPY_RESPONSE_ACTION_BUDGET_BOOST: "budget_boost",
    pb.ENTROPY_RESPONSE_ACTION_QUARANTINE_REVISIT: "quarantine_revisit",
}


def _to_local(ts: Timestamp) -> datetime:
    """Timestamp -> naive local datetime, as the original returns its stored times."""
    return datetime.fromtimestamp(ts.seconds) + timedelta(microseconds=ts.nanos // 1000)


def _from_datetime(dt: datetime) -> Timestamp:
    """datetime (naive = local time, like the original) -> Timestamp."""
    whole = dt.replace(microsecond=0).timestamp()
    return Timestamp(seconds=int(whole), nanos=dt.microsecond * 1000)


def _budget(r: pb.ExplorationBudgetRecord) -> ExplorationBudgetRecord:
    return ExplorationBudgetRecord(
        id=r.id,
        job_hash=r.job_hash,
        recorded_at=_to_local(r.recorded_at),
        budget_value=r.budget_value,
        entropy_at_time=r.entropy_at_time if r.HasField("entropy_at_time") else None,
        adjustment_type=r.stored_adjustment_type or _ENUM_TO_TYPE.get(r.adjustment_type, ""),
        adjustment_reason=r.adjustment_reason if r.HasField("adjustment_reason") else None,
    )


def _response(r: pb.EntropyResponseRecord) -> EntropyResponseRecord:
    return EntropyResponseRecord(
        id=r.id,
        job_hash=r.job_hash,
        recorded_at=_to_local(r.recorded_at),
        entropy_at_trigger=r.entropy_at_trigger,
        threshold_used=r.threshold_used,
        actions_taken=[_ACTION_TO_TEXT.get(a, str(a)) for a in r.actions_taken],
        budget_boosted=r.budget_boosted,
        quarantine_revisits=r.quarantine_revisits,
        patterns_revisited=list(r.patterns_revisited),
    )


def _metrics(m: pb.PatternEntropyMetrics) -> PatternEntropyMetrics:
    metrics = PatternEntropyMetrics(
        calculated_at=_to_local(m.calculated_at),
        shannon_entropy=m.shannon_entropy,
        max_possible_entropy=m.max_possible_entropy,
        diversity_index=m.diversity_index,
        unique_pattern_count=m.unique_pattern_count,
        effective_pattern_count=m.effective_pattern_count,
        total_applications=m.total_applications,
        dominant_pattern_share=m.dominant_pattern_share,
        threshold_exceeded=m.threshold_exceeded,
    )
    return _with_snapshot_id(metrics, m.id or None)


def _metrics_pb(m: PatternEntropyMetrics) -> pb.PatternEntropyMetrics:
    return pb.PatternEntropyMetrics(
        calculated_at=_from_datetime(m.calculated_at),
        shannon_entropy=m.shannon_entropy,
        max_possible_entropy=m.max_possible_entropy,
        diversity_index=m.diversity_index,
        unique_pattern_count=m.unique_pattern_count,
        effective_pattern_count=m.effective_pattern_count,
        total_applications=m.total_applications,
        dominant_pattern_share=m.dominant_pattern_share,
        threshold_exceeded=m.threshold_exceeded,
    )


def _job(job_hash: str | None) -> str | None:
    # Absent and "" both mean all jobs, as in the original.
    return job_hash or None


# --- the client ---------------------------------------------------------------------------


class GlobalLearningStoreClient:
    """The original store's budget and entropy-response API, served by learning-service.

    ``target`` defaults to $LEARNING_SERVER, then 127.0.0.1:50051. Pass ``channel`` to use a
    channel of your own (TLS, interceptors); it is then not closed by ``close()``.
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        channel: grpc.Channel | None = None,
        timeout: float | None = 30.0,
        metadata: Sequence[tuple[str, str]] | None = None,
    ):
        self.target = target or os.environ.get("LEARNING_SERVER", DEFAULT_ADDRESS)
        self._owns_channel = channel is None
        self.channel = channel if channel is not None else grpc.insecure_channel(self.target)
        self.timeout = timeout
        self.metadata = tuple(metadata) if metadata else None
        self._budget = pb_grpc.BudgetServiceStub(self.channel)
        self._entropy = pb_grpc.EntropyServiceStub(self.channel)

    def close(self) -> None:
        if self._owns_channel:
            self.channel.close()

    def __enter__(self) -> GlobalLearningStoreClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _call(self, method: _UnaryRpc[_Request, _Response], request: _Request) -> _Response:
        try:
            return method(request, timeout=self.timeout, metadata=self.metadata)
        except grpc.RpcError as err:
            raise _translate(err) from None

    def _pages(
        self,
        method: _UnaryRpc[_Request, _Page[_Item]],
        make_request: Callable[[int, str], _Request],
        limit: int,
    ) -> Iterator[_Item]:
        """Yields up to ``limit`` records (all of them for a negative limit, like SQL LIMIT -1).

        ``make_request(page_size, page_token)`` is the request of one page.
        """
        if limit == 0:
            return
        left = limit if limit > 0 else math.inf
        token = ""
        while left > 0:
            page = self._call(method, make_request(int(min(left, _PAGE_MAX)), token))
            for r in page.records:
                yield r
                left -= 1
                if left <= 0:
                    return
            token = page.next_page_token
            if not token:
                return

    # --- exploration budget ---------------------------------------------------------------

    def get_exploration_budget(self, job_hash: str | None = None) -> ExplorationBudgetRecord | None:
        resp = self._call(self._budget.GetExplorationBudget, pb.GetExplorationBudgetRequest(job_hash=_job(job_hash)))
        return _budget(resp.budget) if resp.HasField("budget") else None

    def get_exploration_budget_history(
        self, job_hash: str | None = None, limit: int = 50
    ) -> list[ExplorationBudgetRecord]:
        def request(n: int, token: str) -> pb.GetExplorationBudgetHistoryRequest:
            return pb.GetExplorationBudgetHistoryRequest(job_hash=_job(job_hash), limit=n, page_token=token)

        return [_budget(r) for r in self._pages(self._budget.GetExplorationBudgetHistory, request, limit)]

    def update_exploration_budget(
        self,
        job_hash: str,
        budget_value: float,
        adjustment_type: str,
        entropy_at_time: float | None = None,
        adjustment_reason: str | None = None,
        floor: float = 0.05,
        ceiling: float = 0.5,
    ) -> ExplorationBudgetRecord:
        if adjustment_type not in _TYPE_TO_ENUM:
            raise InvalidArgumentError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"adjustment_type {adjustment_type!r} is not one of {sorted(_TYPE_TO_ENUM)}",
                [("adjustment_type", "unknown type")],
            )
        req = pb.UpdateExplorationBudgetRequest(
            job_hash=job_hash,
            budget_value=budget_value,
            adjustment_type=_TYPE_TO_ENUM[adjustment_type],
            entropy_at_time=entropy_at_time,
            adjustment_reason=adjustment_reason,
            floor=floor,
            ceiling=ceiling,
        )
        return _budget(self._call(self._budget.UpdateExplorationBudget, req).record)

    def calculate_budget_adjustment(
        self,
        job_hash: str,
        current_entropy: float,
        floor: float = 0.05,
        ceiling: float = 0.5,
        decay_rate: float = 0.95,
        boost_amount: float = 0.1,
        entropy_threshold: float = 0.3,
        initial_budget: float = 0.15,
    ) -> ExplorationBudgetRecord:
        req = pb.CalculateBudgetAdjustmentRequest(
            job_hash=job_hash,
            current_entropy=current_entropy,
            floor=floor,
            ceiling=ceiling,
            decay_rate=decay_rate,
            boost_amount=boost_amount,
            entropy_threshold=entropy_threshold,
            initial_budget=initial_budget,
        )
        return _budget(self._call(self._budget.CalculateBudgetAdjustment, req).record)

    def get_exploration_budget_statistics(self, job_hash: str | None = None) -> dict[str, Any]:
        s = self._call(
            self._budget.GetExplorationBudgetStatistics,
            pb.GetExplorationBudgetStatisticsRequest(job_hash=_job(job_hash)),
        )
        return {
            "current_budget": s.current_budget if s.HasField("current_budget") else None,
            "avg_budget": s.avg_budget,
            "min_budget": s.min_budget,
            "max_budget": s.max_budget,
            "total_adjustments": s.total_adjustments,
            "floor_enforcements": s.floor_enforcements,
            "boost_count": s.boost_count,
            "decay_count": s.decay_count,
        }

    # --- entropy response -----------------------------------------------------------------

    def check_entropy_response_needed(
        self, job_hash: str, entropy_threshold: float = 0.3, cooldown_seconds: int = 3600
    ) -> tuple[bool, float | None, str]:
        r = self._call(
            self._entropy.CheckEntropyResponseNeeded,
            pb.CheckEntropyResponseNeededRequest(
                job_hash=job_hash, entropy_threshold=entropy_threshold, cooldown_seconds=int(cooldown_seconds)
            ),
        )
        return r.needs_response, (r.current_entropy if r.HasField("current_entropy") else None), r.reason

    def trigger_entropy_response(
        self,
        job_hash: str = "",
        entropy_at_trigger: float = 0.0,
        threshold_used: float = 0.0,
        *,
        trigger: TriggerContextLike | None = None,
        config: ResponseConfigLike | None = None,
        boost_budget: bool | None = None,
        revisit_quarantine: bool | None = None,
        max_quarantine_revisits: int | None = None,
        budget_floor: float | None = None,
        budget_ceiling: float | None = None,
        budget_boost_amount: float | None = None,
    ) -> EntropyResponseRecord:
        if trigger is not None:
            job_hash, entropy_at_trigger, threshold_used = (
                trigger.job_hash,
                trigger.entropy_at_trigger,
                trigger.threshold_used,
            )
        # Keyword overrides win over the config's fields; the config itself is not changed.
        base = config if config is not None else EntropyResponseConfig()
        tuning = pb.EntropyResponseConfig(
            boost_budget=base.boost_budget if boost_budget is None else boost_budget,
            revisit_quarantine=base.revisit_quarantine if revisit_quarantine is None else revisit_quarantine,
            max_quarantine_revisits=(
                base.max_quarantine_revisits if max_quarantine_revisits is None else max_quarantine_revisits
            ),
            budget_floor=base.budget_floor if budget_floor is None else budget_floor,
            budget_ceiling=base.budget_ceiling if budget_ceiling is None else budget_ceiling,
            budget_boost_amount=base.budget_boost_amount if budget_boost_amount is None else budget_boost_amount,
        )
        req = pb.TriggerEntropyResponseRequest(
            trigger=pb.EntropyTriggerContext(
                job_hash=job_hash, entropy_at_trigger=entropy_at_trigger, threshold_used=threshold_used
            ),
            config=tuning,
        )
        return _response(self._call(self._entropy.TriggerEntropyResponse, req).record)

    def get_last_entropy_response(self, job_hash: str | None = None) -> EntropyResponseRecord | None:
        r = self._call(self._entropy.GetLastEntropyResponse, pb.GetLastEntropyResponseRequest(job_hash=_job(job_hash)))
        return _response(r.response) if r.HasField("response") else None

    def get_entropy_response_history(
        self, job_hash: str | None = None, limit: int = 50
    ) -> list[EntropyResponseRecord]:
        def request(n: int, token: str) -> pb.GetEntropyResponseHistoryRequest:
            return pb.GetEntropyResponseHistoryRequest(job_hash=_job(job_hash), limit=n, page_token=token)

        return [_response(r) for r in self._pages(self._entropy.GetEntropyResponseHistory, request, limit)]

    def get_entropy_response_statistics(self, job_hash: str | None = None) -> dict[str, Any]:
        s = self._call(
            self._entropy.GetEntropyResponseStatistics,
            pb.GetEntropyResponseStatisticsRequest(job_hash=_job(job_hash)),
        )
        return {
            "total_responses": s.total_responses,
            "avg_entropy_at_trigger": s.avg_entropy_at_trigger,
            "budget_boosts": s.budget_boosts,
            "quarantine_revisits": s.quarantine_revisits,
            "last_response": _to_local(s.last_response).isoformat() if s.HasField("last_response") else None,
        }

    # --- pattern entropy ------------------------------------------------------------------

    def calculate_pattern_entropy(self) -> PatternEntropyMetrics:
        r = self._call(self._entropy.CalculatePatternEntropy, pb.CalculatePatternEntropyRequest())
        return _metrics(r.metrics)

    def record_pattern_entropy(self, metrics: PatternEntropyMetrics) -> str:
        r = self._call(self._entropy.RecordPatternEntropy, pb.RecordPatternEntropyRequest(metrics=_metrics_pb(metrics)))
        return r.id

    def get_pattern_entropy_history(self, limit: int = 50) -> list[PatternEntropyMetrics]:
        def request(n: int, token: str) -> pb.GetPatternEntropyHistoryRequest:
            return pb.GetPatternEntropyHistoryRequest(limit=n, page_token=token)

        return [_metrics(m) for m in self._pages(self._entropy.GetPatternEntropyHistory, request, limit)]
