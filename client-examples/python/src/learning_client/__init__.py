"""Python client of learning-service (learning.v1).

``GlobalLearningStoreClient`` is a drop-in for the budget and entropy-response methods of
the original global learning store; ``load_stubs()`` gives the raw generated gRPC stubs.
"""

from ._stubs import load as load_stubs
from .adapter import (
    EntropyResponseConfig,
    EntropyResponseRecord,
    EntropyTriggerContext,
    ExplorationBudgetRecord,
    GlobalLearningStoreClient,
    InvalidArgumentError,
    LearningServiceError,
    NotFoundError,
    PatternEntropyMetrics,
)

__all__ = [
    "EntropyResponseConfig",
    "EntropyResponseRecord",
    "EntropyTriggerContext",
    "ExplorationBudgetRecord",
    "GlobalLearningStoreClient",
    "InvalidArgumentError",
    "LearningServiceError",
    "NotFoundError",
    "PatternEntropyMetrics",
    "load_stubs",
]
