"""Test-only stand-in for the argument classes of ``marianne.learning.store.budget``."""

from __future__ import annotations

from dataclasses import dataclass


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
