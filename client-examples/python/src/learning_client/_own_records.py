"""The adapter's own record classes, used when the original store is not installed.

Field names, order, types and defaults are those of ``marianne.learning.store.models``, so that
code written against the original sees the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class ExplorationBudgetRecord:
    id: str
    job_hash: str
    recorded_at: datetime
    budget_value: float
    entropy_at_time: float | None
    adjustment_type: str
    adjustment_reason: str | None = None


@dataclass
class EntropyResponseRecord:
    id: str
    job_hash: str
    recorded_at: datetime
    entropy_at_trigger: float
    threshold_used: float
    actions_taken: list[str]
    budget_boosted: bool = False
    quarantine_revisits: int = 0
    patterns_revisited: list[str] = field(default_factory=list)


@dataclass
class PatternEntropyMetrics:
    calculated_at: datetime
    shannon_entropy: float
    max_possible_entropy: float
    diversity_index: float
    unique_pattern_count: int
    effective_pattern_count: int
    total_applications: int
    dominant_pattern_share: float
    threshold_exceeded: bool = False
