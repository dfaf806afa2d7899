"""Python client of learning-service (learning.v1).

* ``GlobalLearningStoreClient``: a drop-in for the budget and entropy-response methods of the
  original global learning store. Its records are the original's own classes when
  ``marianne.learning.store.models`` is installed (see ``learning_client.records``).
* ``learning_client.v1``: the generated messages and gRPC stubs, with type stubs.
"""

from .adapter import (
    EntropyResponseConfig,
    EntropyTriggerContext,
    GlobalLearningStoreClient,
    InvalidArgumentError,
    LearningServiceError,
    NotFoundError,
    field_violations,
)
from .records import (
    ORIGINAL_MODELS,
    EntropyResponseRecord,
    ExplorationBudgetRecord,
    PatternEntropyMetrics,
    snapshot_id,
)

__all__ = [
    "ORIGINAL_MODELS",
    "EntropyResponseConfig",
    "EntropyResponseRecord",
    "EntropyTriggerContext",
    "ExplorationBudgetRecord",
    "GlobalLearningStoreClient",
    "InvalidArgumentError",
    "LearningServiceError",
    "NotFoundError",
    "PatternEntropyMetrics",
    "field_violations",
    "snapshot_id",
]
