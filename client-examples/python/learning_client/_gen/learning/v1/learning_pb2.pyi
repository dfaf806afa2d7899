import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AdjustmentType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ADJUSTMENT_TYPE_UNSPECIFIED: _ClassVar[AdjustmentType]
    ADJUSTMENT_TYPE_INITIAL: _ClassVar[AdjustmentType]
    ADJUSTMENT_TYPE_DECAY: _ClassVar[AdjustmentType]
    ADJUSTMENT_TYPE_BOOST: _ClassVar[AdjustmentType]
    ADJUSTMENT_TYPE_FLOOR_ENFORCED: _ClassVar[AdjustmentType]
    ADJUSTMENT_TYPE_CEILING_ENFORCED: _ClassVar[AdjustmentType]

class EntropyResponseAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENTROPY_RESPONSE_ACTION_UNSPECIFIED: _ClassVar[EntropyResponseAction]
    ENTROPY_RESPONSE_ACTION_BUDGET_BOOST: _ClassVar[EntropyResponseAction]
    ENTROPY_RESPONSE_ACTION_QUARANTINE_REVISIT: _ClassVar[EntropyResponseAction]

class QuarantineStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    QUARANTINE_STATUS_UNSPECIFIED: _ClassVar[QuarantineStatus]
    QUARANTINE_STATUS_PENDING: _ClassVar[QuarantineStatus]
    QUARANTINE_STATUS_QUARANTINED: _ClassVar[QuarantineStatus]
    QUARANTINE_STATUS_VALIDATED: _ClassVar[QuarantineStatus]
    QUARANTINE_STATUS_RETIRED: _ClassVar[QuarantineStatus]
ADJUSTMENT_TYPE_UNSPECIFIED: AdjustmentType
ADJUSTMENT_TYPE_INITIAL: AdjustmentType
ADJUSTMENT_TYPE_DECAY: AdjustmentType
ADJUSTMENT_TYPE_BOOST: AdjustmentType
ADJUSTMENT_TYPE_FLOOR_ENFORCED: AdjustmentType
ADJUSTMENT_TYPE_CEILING_ENFORCED: AdjustmentType
ENTROPY_RESPONSE_ACTION_UNSPECIFIED: EntropyResponseAction
ENTROPY_RESPONSE_ACTION_BUDGET_BOOST: EntropyResponseAction
ENTROPY_RESPONSE_ACTION_QUARANTINE_REVISIT: EntropyResponseAction
QUARANTINE_STATUS_UNSPECIFIED: QuarantineStatus
QUARANTINE_STATUS_PENDING: QuarantineStatus
QUARANTINE_STATUS_QUARANTINED: QuarantineStatus
QUARANTINE_STATUS_VALIDATED: QuarantineStatus
QUARANTINE_STATUS_RETIRED: QuarantineStatus

class ExplorationBudgetRecord(_message.Message):
    __slots__ = ("id", "job_hash", "recorded_at", "budget_value", "entropy_at_time", "adjustment_type", "adjustment_reason", "stored_adjustment_type")
    ID_FIELD_NUMBER: _ClassVar[int]
    JOB_HASH_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    BUDGET_VALUE_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_AT_TIME_FIELD_NUMBER: _ClassVar[int]
    ADJUSTMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ADJUSTMENT_REASON_FIELD_NUMBER: _ClassVar[int]
    STORED_ADJUSTMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    id: str
    job_hash: str
    recorded_at: _timestamp_pb2.Timestamp
    budget_value: float
    entropy_at_time: float
    adjustment_type: AdjustmentType
    adjustment_reason: str
    stored_adjustment_type: str
    def __init__(self, id: _Optional[str] = ..., job_hash: _Optional[str] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., budget_value: _Optional[float] = ..., entropy_at_time: _Optional[float] = ..., adjustment_type: _Optional[_Union[AdjustmentType, str]] = ..., adjustment_reason: _Optional[str] = ..., stored_adjustment_type: _Optional[str] = ...) -> None: ...

class EntropyResponseRecord(_message.Message):
    __slots__ = ("id", "job_hash", "recorded_at", "entropy_at_trigger", "threshold_used", "actions_taken", "budget_boosted", "quarantine_revisits", "patterns_revisited")
    ID_FIELD_NUMBER: _ClassVar[int]
    JOB_HASH_FIELD_NUMBER: _ClassVar[int]
    RECORDED_AT_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_AT_TRIGGER_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_USED_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_TAKEN_FIELD_NUMBER: _ClassVar[int]
    BUDGET_BOOSTED_FIELD_NUMBER: _ClassVar[int]
    QUARANTINE_REVISITS_FIELD_NUMBER: _ClassVar[int]
    PATTERNS_REVISITED_FIELD_NUMBER: _ClassVar[int]
    id: str
    job_hash: str
    recorded_at: _timestamp_pb2.Timestamp
    entropy_at_trigger: float
    threshold_used: float
    actions_taken: _containers.RepeatedScalarFieldContainer[EntropyResponseAction]
    budget_boosted: bool
    quarantine_revisits: int
    patterns_revisited: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., job_hash: _Optional[str] = ..., recorded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., entropy_at_trigger: _Optional[float] = ..., threshold_used: _Optional[float] = ..., actions_taken: _Optional[_Iterable[_Union[EntropyResponseAction, str]]] = ..., budget_boosted: _Optional[bool] = ..., quarantine_revisits: _Optional[int] = ..., patterns_revisited: _Optional[_Iterable[str]] = ...) -> None: ...

class PatternEntropyMetrics(_message.Message):
    __slots__ = ("id", "calculated_at", "shannon_entropy", "max_possible_entropy", "diversity_index", "unique_pattern_count", "effective_pattern_count", "total_applications", "dominant_pattern_share", "threshold_exceeded")
    ID_FIELD_NUMBER: _ClassVar[int]
    CALCULATED_AT_FIELD_NUMBER: _ClassVar[int]
    SHANNON_ENTROPY_FIELD_NUMBER: _ClassVar[int]
    MAX_POSSIBLE_ENTROPY_FIELD_NUMBER: _ClassVar[int]
    DIVERSITY_INDEX_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_PATTERN_COUNT_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_PATTERN_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_APPLICATIONS_FIELD_NUMBER: _ClassVar[int]
    DOMINANT_PATTERN_SHARE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_EXCEEDED_FIELD_NUMBER: _ClassVar[int]
    id: str
    calculated_at: _timestamp_pb2.Timestamp
    shannon_entropy: float
    max_possible_entropy: float
    diversity_index: float
    unique_pattern_count: int
    effective_pattern_count: int
    total_applications: int
    dominant_pattern_share: float
    threshold_exceeded: bool
    def __init__(self, id: _Optional[str] = ..., calculated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., shannon_entropy: _Optional[float] = ..., max_possible_entropy: _Optional[float] = ..., diversity_index: _Optional[float] = ..., unique_pattern_count: _Optional[int] = ..., effective_pattern_count: _Optional[int] = ..., total_applications: _Optional[int] = ..., dominant_pattern_share: _Optional[float] = ..., threshold_exceeded: _Optional[bool] = ...) -> None: ...

class EntropyResponseConfig(_message.Message):
    __slots__ = ("boost_budget", "revisit_quarantine", "max_quarantine_revisits", "budget_floor", "budget_ceiling", "budget_boost_amount")
    BOOST_BUDGET_FIELD_NUMBER: _ClassVar[int]
    REVISIT_QUARANTINE_FIELD_NUMBER: _ClassVar[int]
    MAX_QUARANTINE_REVISITS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FLOOR_FIELD_NUMBER: _ClassVar[int]
    BUDGET_CEILING_FIELD_NUMBER: _ClassVar[int]
    BUDGET_BOOST_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    boost_budget: bool
    revisit_quarantine: bool
    max_quarantine_revisits: int
    budget_floor: float
    budget_ceiling: float
    budget_boost_amount: float
    def __init__(self, boost_budget: _Optional[bool] = ..., revisit_quarantine: _Optional[bool] = ..., max_quarantine_revisits: _Optional[int] = ..., budget_floor: _Optional[float] = ..., budget_ceiling: _Optional[float] = ..., budget_boost_amount: _Optional[float] = ...) -> None: ...

class EntropyTriggerContext(_message.Message):
    __slots__ = ("job_hash", "entropy_at_trigger", "threshold_used")
    JOB_HASH_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_AT_TRIGGER_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_USED_FIELD_NUMBER: _ClassVar[int]
    job_hash: str
    entropy_at_trigger: float
    threshold_used: float
    def __init__(self, job_hash: _Optional[str] = ..., entropy_at_trigger: _Optional[float] = ..., threshold_used: _Optional[float] = ...) -> None: ...

class GetExplorationBudgetRequest(_message.Message):
    __slots__ = ("job_hash",)
    JOB_HASH_FIELD_NUMBER: _ClassVar[int]
    job_hash: str
    def __init__(self, job_hash: _Optional[str] = ...) -> None: ...

class GetExplorationBudgetResponse(_message.Message):
    __slots__ = ("budget",)
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    budget: ExplorationBudgetRecord
    def __init__(self, budget: _Optional[_Union[ExplorationBudgetRecord, _Mapping]] = ...) -> None: ...

class GetExplorationBudgetHistoryRequest(_message.Message):
    __slots__ = ("job_hash", "limit", "page_token")
    JOB_HASH_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    job_hash: str
    limit: int
    page_token: str
    def __init__(self, job_hash: _Optional[str] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetExplorationBudgetHistoryResponse(_message.Message):
    __slots__ = ("records", "next_page_token")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[ExplorationBudgetRecord]
    next_page_token: str
    def __init__(self, records: _Optional[_Iterable[_Union[ExplorationBudgetRecord, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateExplorationBudgetRequest(_message.Message):
    __slots__ = ("job_hash", "budget_value", "adjustment_type", "entropy_at_time", "adjustment_reason", "floor", "ceiling")
    JOB_HASH_FIELD_NUMBER: _ClassVar[int]
    BUDGET_VALUE_FIELD_NUMBER: _ClassVar[int]
    ADJUSTMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_AT_TIME_FIELD_NUMBER: _ClassVar[int]
    ADJUSTMENT_REASON_FIELD_NUMBER: _ClassVar[int]
    FLOOR_FIELD_NUMBER: _ClassVar[int]
    CEILING_FIELD_NUMBER: _ClassVar[int]
    job_hash: str
    budget_value: float
    adjustment_type: AdjustmentType
    entropy_at_time: float
    adjustment_reason: str
    floor: float
    ceiling: float
    def __init__(self, job_hash: _Optional[str] = ..., budget_value: _Optional[float] = ..., adjustment_type: _Optional[_Union[AdjustmentType, str]] = ..., entropy_at_time: _Optional[float] = ..., adjustment_reason: _Optional[str] = ..., floor: _Optional[float] = ..., ceiling: _Optional[float] = ...) -> None: ...

class UpdateExplorationBudgetResponse(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: ExplorationBudgetRecord
    def __init__(self, record: _Optional[_Union[ExplorationBudgetRecord, _Mapping]] = ...) -> None: ...

class CalculateBudgetAdjustmentRequest(_message.Message):
    __slots__ = ("job_hash", "current_entropy", "floor", "ceiling", "decay_rate", "boost_amount", "entropy_threshold", "initial_budget")
    JOB_HASH_FIELD_NUMBER: _ClassVar[int]
    CURRENT_ENTROPY_FIELD_NUMBER: _ClassVar[int]
    FLOOR_FIELD_NUMBER: _ClassVar[int]
    CEILING_FIELD_NUMBER: _ClassVar[int]
    DECAY_RATE_FIELD_NUMBER: _ClassVar[int]
    BOOST_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    INITIAL_BUDGET_FIELD_NUMBER: _ClassVar[int]
    job_hash: str
    current_entropy: float
    floor: float
    ceiling: float
    decay_rate: float
    boost_amount: float
    entropy_threshold: float
    initial_budget: float
    def __init__(self, job_hash: _Optional[str] = ..., current_entropy: _Optional[float] = ..., floor: _Optional[float] = ..., ceiling: _Optional[float] = ..., decay_rate: _Optional[float] = ..., boost_amount: _Optional[float] = ..., entropy_threshold: _Optional[float] = ..., initial_budget: _Optional[float] = ...) -> None: ...

class CalculateBudgetAdjustmentResponse(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: ExplorationBudgetRecord
    def __init__(self, record: _Optional[_Union[ExplorationBudgetRecord, _Mapping]] = ...) -> None: ...

class GetExplorationBudgetStatisticsRequest(_message.Message):
    __slots__ = ("job_hash",)
    JOB_HASH_FIELD_NUMBER: _ClassVar[int]
    job_hash: str
    def __init__(self, job_hash: _Optional[str] = ...) -> None: ...

class GetExplorationBudgetStatisticsResponse(_message.Message):
    __slots__ = ("current_budget", "avg_budget", "min_budget", "max_budget", "total_adjustments", "floor_enforcements", "boost_count", "decay_count", "ceiling_enforcements", "initial_count")
    CURRENT_BUDGET_FIELD_NUMBER: _ClassVar[int]
    AVG_BUDGET_FIELD_NUMBER: _ClassVar[int]
    MIN_BUDGET_FIELD_NUMBER: _ClassVar[int]
    MAX_BUDGET_FIELD_NUMBER: _ClassVar[int]
    TOTAL_ADJUSTMENTS_FIELD_NUMBER: _ClassVar[int]
    FLOOR_ENFORCEMENTS_FIELD_NUMBER: _ClassVar[int]
    BOOST_COUNT_FIELD_NUMBER: _ClassVar[int]
    DECAY_COUNT_FIELD_NUMBER: _ClassVar[int]
    CEILING_ENFORCEMENTS_FIELD_NUMBER: _ClassVar[int]
    INITIAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    current_budget: float
    avg_budget: float
    min_budget: float
    max_budget: float
    total_adjustments: int
    floor_enforcements: int
    boost_count: int
    decay_count: int
    ceiling_enforcements: int
    initial_count: int
    def __init__(self, current_budget: _Optional[float] = ..., avg_budget: _Optional[float] = ..., min_budget: _Optional[float] = ..., max_budget: _Optional[float] = ..., total_adjustments: _Optional[int] = ..., floor_enforcements: _Optional[int] = ..., boost_count: _Optional[int] = ..., decay_count: _Optional[int] = ..., ceiling_enforcements: _Optional[int] = ..., initial_count: _Optional[int] = ...) -> None: ...

class CheckEntropyResponseNeededRequest(_message.Message):
    __slots__ = ("job_hash", "entropy_threshold", "cooldown_seconds")
    JOB_HASH_FIELD_NUMBER: _ClassVar[int]
    ENTROPY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    COOLDOWN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    job_hash: str
    entropy_threshold: float
    cooldown_seconds: int
    def __init__(self, job_hash: _Optional[str] = ..., entropy_threshold: _Optional[float] = ..., cooldown_seconds: _Optional[int] = ...) -> None: ...

class CheckEntropyResponseNeededResponse(_message.Message):
    __slots__ = ("needs_response", "current_entropy", "reason", "cooldown_remaining_seconds")
    NEEDS_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_ENTROPY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    COOLDOWN_REMAINING_SECONDS_FIELD_NUMBER: _ClassVar[int]
    needs_response: bool
    current_entropy: float
    reason: str
    cooldown_remaining_seconds: float
    def __init__(self, needs_response: _Optional[bool] = ..., current_entropy: _Optional[float] = ..., reason: _Optional[str] = ..., cooldown_remaining_seconds: _Optional[float] = ...) -> None: ...

class TriggerEntropyResponseRequest(_message.Message):
    __slots__ = ("trigger", "config")
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    trigger: EntropyTriggerContext
    config: EntropyResponseConfig
    def __init__(self, trigger: _Optional[_Union[EntropyTriggerContext, _Mapping]] = ..., config: _Optional[_Union[EntropyResponseConfig, _Mapping]] = ...) -> None: ...

class TriggerEntropyResponseResponse(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: EntropyResponseRecord
    def __init__(self, record: _Optional[_Union[EntropyResponseRecord, _Mapping]] = ...) -> None: ...

class GetLastEntropyResponseRequest(_message.Message):
    __slots__ = ("job_hash",)
    JOB_HASH_FIELD_NUMBER: _ClassVar[int]
    job_hash: str
    def __init__(self, job_hash: _Optional[str] = ...) -> None: ...

class GetLastEntropyResponseResponse(_message.Message):
    __slots__ = ("response",)
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    response: EntropyResponseRecord
    def __init__(self, response: _Optional[_Union[EntropyResponseRecord, _Mapping]] = ...) -> None: ...

class GetEntropyResponseHistoryRequest(_message.Message):
    __slots__ = ("job_hash", "limit", "page_token")
    JOB_HASH_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    job_hash: str
    limit: int
    page_token: str
    def __init__(self, job_hash: _Optional[str] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetEntropyResponseHistoryResponse(_message.Message):
    __slots__ = ("records", "next_page_token")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[EntropyResponseRecord]
    next_page_token: str
    def __init__(self, records: _Optional[_Iterable[_Union[EntropyResponseRecord, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetEntropyResponseStatisticsRequest(_message.Message):
    __slots__ = ("job_hash",)
    JOB_HASH_FIELD_NUMBER: _ClassVar[int]
    job_hash: str
    def __init__(self, job_hash: _Optional[str] = ...) -> None: ...

class GetEntropyResponseStatisticsResponse(_message.Message):
    __slots__ = ("total_responses", "avg_entropy_at_trigger", "budget_boosts", "quarantine_revisits", "last_response")
    TOTAL_RESPONSES_FIELD_NUMBER: _ClassVar[int]
    AVG_ENTROPY_AT_TRIGGER_FIELD_NUMBER: _ClassVar[int]
    BUDGET_BOOSTS_FIELD_NUMBER: _ClassVar[int]
    QUARANTINE_REVISITS_FIELD_NUMBER: _ClassVar[int]
    LAST_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    total_responses: int
    avg_entropy_at_trigger: float
    budget_boosts: int
    quarantine_revisits: int
    last_response: _timestamp_pb2.Timestamp
    def __init__(self, total_responses: _Optional[int] = ..., avg_entropy_at_trigger: _Optional[float] = ..., budget_boosts: _Optional[int] = ..., quarantine_revisits: _Optional[int] = ..., last_response: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CalculatePatternEntropyRequest(_message.Message):
    __slots__ = ("alert_threshold",)
    ALERT_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    alert_threshold: float
    def __init__(self, alert_threshold: _Optional[float] = ...) -> None: ...

class CalculatePatternEntropyResponse(_message.Message):
    __slots__ = ("metrics",)
    METRICS_FIELD_NUMBER: _ClassVar[int]
    metrics: PatternEntropyMetrics
    def __init__(self, metrics: _Optional[_Union[PatternEntropyMetrics, _Mapping]] = ...) -> None: ...

class RecordPatternEntropyRequest(_message.Message):
    __slots__ = ("metrics",)
    METRICS_FIELD_NUMBER: _ClassVar[int]
    metrics: PatternEntropyMetrics
    def __init__(self, metrics: _Optional[_Union[PatternEntropyMetrics, _Mapping]] = ...) -> None: ...

class RecordPatternEntropyResponse(_message.Message):
    __slots__ = ("id", "metrics")
    ID_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    id: str
    metrics: PatternEntropyMetrics
    def __init__(self, id: _Optional[str] = ..., metrics: _Optional[_Union[PatternEntropyMetrics, _Mapping]] = ...) -> None: ...

class GetPatternEntropyHistoryRequest(_message.Message):
    __slots__ = ("limit", "page_token")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    limit: int
    page_token: str
    def __init__(self, limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetPatternEntropyHistoryResponse(_message.Message):
    __slots__ = ("records", "next_page_token")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[PatternEntropyMetrics]
    next_page_token: str
    def __init__(self, records: _Optional[_Iterable[_Union[PatternEntropyMetrics, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Pattern(_message.Message):
    __slots__ = ("id", "pattern_type", "pattern_name", "description", "quarantine_status", "stored_quarantine_status", "quarantine_reason", "application_count", "led_to_success_count", "led_to_failure_count", "first_seen", "last_seen", "quarantined_at", "validated_at", "active")
    ID_FIELD_NUMBER: _ClassVar[int]
    PATTERN_TYPE_FIELD_NUMBER: _ClassVar[int]
    PATTERN_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    QUARANTINE_STATUS_FIELD_NUMBER: _ClassVar[int]
    STORED_QUARANTINE_STATUS_FIELD_NUMBER: _ClassVar[int]
    QUARANTINE_REASON_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    LED_TO_SUCCESS_COUNT_FIELD_NUMBER: _ClassVar[int]
    LED_TO_FAILURE_COUNT_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    QUARANTINED_AT_FIELD_NUMBER: _ClassVar[int]
    VALIDATED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    id: str
    pattern_type: str
    pattern_name: str
    description: str
    quarantine_status: QuarantineStatus
    stored_quarantine_status: str
    quarantine_reason: str
    application_count: int
    led_to_success_count: int
    led_to_failure_count: int
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    quarantined_at: _timestamp_pb2.Timestamp
    validated_at: _timestamp_pb2.Timestamp
    active: bool
    def __init__(self, id: _Optional[str] = ..., pattern_type: _Optional[str] = ..., pattern_name: _Optional[str] = ..., description: _Optional[str] = ..., quarantine_status: _Optional[_Union[QuarantineStatus, str]] = ..., stored_quarantine_status: _Optional[str] = ..., quarantine_reason: _Optional[str] = ..., application_count: _Optional[int] = ..., led_to_success_count: _Optional[int] = ..., led_to_failure_count: _Optional[int] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., quarantined_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., validated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., active: _Optional[bool] = ...) -> None: ...

class RecordPatternRequest(_message.Message):
    __slots__ = ("pattern_type", "pattern_name", "description", "quarantine_status")
    PATTERN_TYPE_FIELD_NUMBER: _ClassVar[int]
    PATTERN_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    QUARANTINE_STATUS_FIELD_NUMBER: _ClassVar[int]
    pattern_type: str
    pattern_name: str
    description: str
    quarantine_status: QuarantineStatus
    def __init__(self, pattern_type: _Optional[str] = ..., pattern_name: _Optional[str] = ..., description: _Optional[str] = ..., quarantine_status: _Optional[_Union[QuarantineStatus, str]] = ...) -> None: ...

class RecordPatternResponse(_message.Message):
    __slots__ = ("pattern",)
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    pattern: Pattern
    def __init__(self, pattern: _Optional[_Union[Pattern, _Mapping]] = ...) -> None: ...

class RecordPatternApplicationRequest(_message.Message):
    __slots__ = ("pattern_id", "execution_id", "pattern_led_to_success")
    PATTERN_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    PATTERN_LED_TO_SUCCESS_FIELD_NUMBER: _ClassVar[int]
    pattern_id: str
    execution_id: str
    pattern_led_to_success: bool
    def __init__(self, pattern_id: _Optional[str] = ..., execution_id: _Optional[str] = ..., pattern_led_to_success: _Optional[bool] = ...) -> None: ...

class RecordPatternApplicationResponse(_message.Message):
    __slots__ = ("application_id", "application_count")
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    application_id: str
    application_count: int
    def __init__(self, application_id: _Optional[str] = ..., application_count: _Optional[int] = ...) -> None: ...

class SetPatternQuarantineStatusRequest(_message.Message):
    __slots__ = ("pattern_id", "status", "reason")
    PATTERN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    pattern_id: str
    status: QuarantineStatus
    reason: str
    def __init__(self, pattern_id: _Optional[str] = ..., status: _Optional[_Union[QuarantineStatus, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class SetPatternQuarantineStatusResponse(_message.Message):
    __slots__ = ("pattern",)
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    pattern: Pattern
    def __init__(self, pattern: _Optional[_Union[Pattern, _Mapping]] = ...) -> None: ...

class ListPatternsRequest(_message.Message):
    __slots__ = ("status", "limit", "page_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: QuarantineStatus
    limit: int
    page_token: str
    def __init__(self, status: _Optional[_Union[QuarantineStatus, str]] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPatternsResponse(_message.Message):
    __slots__ = ("patterns", "next_page_token")
    PATTERNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    patterns: _containers.RepeatedCompositeFieldContainer[Pattern]
    next_page_token: str
    def __init__(self, patterns: _Optional[_Iterable[_Union[Pattern, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
