"""Shared fixtures: a client of the live server ($LEARNING_SERVER), and the record classes the
adapter is expected to return in this run."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from types import ModuleType

import grpc
import pytest

import learning_client
from learning_client import GlobalLearningStoreClient

# "original" (tests/stand_in or the real original on the path) or "own"; run.sh sets it, so
# that a wrong PYTHONPATH fails instead of testing the same classes twice.
EXPECTED_MODELS = os.environ.get("LEARNING_CLIENT_EXPECT_MODELS")


@pytest.fixture(scope="session")
def client() -> Iterator[GlobalLearningStoreClient]:
    with GlobalLearningStoreClient() as c:
        try:
            grpc.channel_ready_future(c.channel).result(timeout=10)
        except grpc.FutureTimeoutError:
            pytest.fail(f"no gRPC server at {c.target} (set LEARNING_SERVER)")
        yield c


@pytest.fixture(scope="session")
def record_classes() -> ModuleType:
    """The module whose classes the adapter must return: the original's models or its own."""
    if EXPECTED_MODELS is None and os.environ.get("CI") == "true":
        pytest.fail("set LEARNING_CLIENT_EXPECT_MODELS to original or own (run.sh does)")
    if EXPECTED_MODELS is not None:
        assert EXPECTED_MODELS in ("original", "own"), f"LEARNING_CLIENT_EXPECT_MODELS={EXPECTED_MODELS!r}"
        assert learning_client.ORIGINAL_MODELS == (EXPECTED_MODELS == "original")
    if learning_client.ORIGINAL_MODELS:
        return importlib.import_module("marianne.learning.store.models")
    return importlib.import_module("learning_client._own_records")


@pytest.fixture(scope="session")
def argument_classes() -> ModuleType:
    """Where EntropyTriggerContext and EntropyResponseConfig come from: the original's budget
    module when the original is there (the adapter takes its instances), else the adapter."""
    if learning_client.ORIGINAL_MODELS:
        return importlib.import_module("marianne.learning.store.budget")
    return importlib.import_module("learning_client.adapter")
