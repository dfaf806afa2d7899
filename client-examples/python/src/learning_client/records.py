"""The record classes the adapter returns: the original store's own when it is installed.

When ``marianne.learning.store.models`` can be imported, ``ExplorationBudgetRecord``,
``EntropyResponseRecord`` and ``PatternEntropyMetrics`` *are* its classes, so code that checks
``isinstance(record, models.ExplorationBudgetRecord)`` keeps working after the switch to the
service. Otherwise they are look-alikes of the same shape (``_own_records``).
``ORIGINAL_MODELS`` says which.

A snapshot id (which the original's ``PatternEntropyMetrics`` has no field for) travels beside
the record, in an attribute of the instance that ``snapshot_id()`` reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

_ORIGINAL = "marianne.learning.store.models"

if TYPE_CHECKING:
    # For type checkers: both sets of classes have the same fields.
    from ._own_records import EntropyResponseRecord, ExplorationBudgetRecord, PatternEntropyMetrics

    ORIGINAL_MODELS: bool
else:
    try:
        from marianne.learning.store.models import (
            EntropyResponseRecord,
            ExplorationBudgetRecord,
            PatternEntropyMetrics,
        )

        ORIGINAL_MODELS = True
    except ModuleNotFoundError as err:
        # Only "the original is not installed" falls back; an original that is installed but
        # fails to import is an error to see, not to hide.
        if err.name is None or not (_ORIGINAL == err.name or _ORIGINAL.startswith(err.name + ".")):
            raise
        from ._own_records import EntropyResponseRecord, ExplorationBudgetRecord, PatternEntropyMetrics

        ORIGINAL_MODELS = False

_SNAPSHOT_ID = "_learning_service_snapshot_id"


def snapshot_id(metrics: PatternEntropyMetrics) -> str | None:
    """The id of a recorded snapshot returned by the adapter; None for one only calculated.

    The original's class has no id field, so the id is kept in an extra instance attribute
    instead: it is not part of ``==``, ``repr()`` or ``dataclasses.asdict()``.
    """
    value = getattr(metrics, _SNAPSHOT_ID, None)
    return value if isinstance(value, str) else None


def _with_snapshot_id(metrics: PatternEntropyMetrics, value: str | None) -> PatternEntropyMetrics:
    try:
        setattr(metrics, _SNAPSHOT_ID, value)
    except AttributeError:  # a class with __slots__ cannot carry it; snapshot_id() says None
        pass
    return metrics


__all__ = [
    "ORIGINAL_MODELS",
    "EntropyResponseRecord",
    "ExplorationBudgetRecord",
    "PatternEntropyMetrics",
    "snapshot_id",
]
