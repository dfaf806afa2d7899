"""Which record classes the adapter returns: the original store's when it is importable, its
own look-alikes of the same shape otherwise. No server needed."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from types import ModuleType

import pytest

import learning_client
from learning_client import _own_records, snapshot_id
from learning_client.records import _with_snapshot_id

STAND_IN = Path(__file__).resolve().parent / "stand_in"
RECORDS = ("ExplorationBudgetRecord", "EntropyResponseRecord", "PatternEntropyMetrics")


def load_by_path(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses looks its module up while building the class
    spec.loader.exec_module(module)
    return module


def shape(cls: type) -> list[tuple[str, object, object, object]]:
    return [(f.name, f.type, f.default, f.default_factory) for f in dataclasses.fields(cls)]


def test_the_package_exports_the_classes_it_returns(record_classes):
    for name in RECORDS:
        assert getattr(learning_client, name) is getattr(record_classes, name)
    if learning_client.ORIGINAL_MODELS:
        assert record_classes.__name__ == "marianne.learning.store.models"
    else:
        assert importlib.util.find_spec("marianne") is None


@pytest.mark.parametrize("name", RECORDS)
def test_own_classes_have_the_originals_shape(name):
    stand_in = load_by_path(STAND_IN / "marianne/learning/store/models.py", "stand_in_models")
    assert shape(getattr(_own_records, name)) == shape(getattr(stand_in, name))


def test_snapshot_id_travels_beside_the_fields(record_classes):
    cls = record_classes.PatternEntropyMetrics
    fields = dict(
        calculated_at=datetime(2025, 6, 1, 12, 0, 0),
        shannon_entropy=0.5,
        max_possible_entropy=1.0,
        diversity_index=0.5,
        unique_pattern_count=2,
        effective_pattern_count=2,
        total_applications=4,
        dominant_pattern_share=0.75,
    )
    plain = cls(**fields)
    recorded = _with_snapshot_id(cls(**fields), "5c0e5152-f6d8-438e-a26c-b9a28664094f")
    assert snapshot_id(plain) is None
    assert snapshot_id(recorded) == "5c0e5152-f6d8-438e-a26c-b9a28664094f"
    assert recorded == plain and repr(recorded) == repr(plain)
    assert dataclasses.asdict(recorded) == dataclasses.asdict(plain)


def import_with_path(tmp_path: Path, files: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`import learning_client` in a new interpreter that has only `files` on PYTHONPATH."""
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    code = "import learning_client; print(learning_client.ORIGINAL_MODELS)"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_a_marianne_without_the_store_falls_back_to_own_classes(tmp_path):
    done = import_with_path(tmp_path, {"marianne/__init__.py": ""})
    assert (done.returncode, done.stdout.strip()) == (0, "False"), done.stderr


def test_an_original_that_fails_to_import_is_an_error_not_a_fallback(tmp_path):
    broken = {
        "marianne/__init__.py": "",
        "marianne/learning/__init__.py": "",
        "marianne/learning/store/__init__.py": "",
        "marianne/learning/store/models.py": "import a_dependency_that_is_missing\n",
    }
    done = import_with_path(tmp_path, broken)
    assert done.returncode != 0
    assert "No module named 'a_dependency_that_is_missing'" in done.stderr


def test_the_stand_in_is_taken_as_the_original(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(STAND_IN)}
    code = (
        "import learning_client, marianne.learning.store.models as m; "
        "print(learning_client.ORIGINAL_MODELS, learning_client.ExplorationBudgetRecord is m.ExplorationBudgetRecord)"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "True True"), done.stderr
