"""Generates the learning.v1 Python stubs with grpcio-tools at run time and imports them.

The stubs go to ``learning_client/_generated/`` (gitignored). They are regenerated when the proto
changes (a hash of its text is kept next to them), so they never drift from the contract.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

PROTO_REL = "learning/v1/learning.proto"
GEN_DIR = Path(__file__).resolve().parent / "_generated"
_STAMP = GEN_DIR / "proto.sha256"


def proto_root() -> Path:
    """Directory holding ``learning/v1/learning.proto``: $LEARNING_PROTO_DIR or the repo's proto/."""
    env = os.environ.get("LEARNING_PROTO_DIR")
    root = Path(env) if env else Path(__file__).resolve().parents[3] / "proto"
    if not (root / PROTO_REL).is_file():
        raise FileNotFoundError(
            f"{root / PROTO_REL} not found; set LEARNING_PROTO_DIR to the directory holding {PROTO_REL}"
        )
    return root


def generate(force: bool = False) -> Path:
    """(Re)generates the stubs if missing or stale; returns the directory to put on sys.path."""
    root = proto_root()
    digest = hashlib.sha256((root / PROTO_REL).read_bytes()).hexdigest()
    if not force and _STAMP.is_file() and _STAMP.read_text().strip() == digest:
        return GEN_DIR
    from grpc_tools import protoc  # only needed when generating

    import grpc_tools

    wkt = Path(grpc_tools.__file__).resolve().parent / "_proto"
    tmp = Path(tempfile.mkdtemp(prefix="_generated.", dir=GEN_DIR.parent))
    try:
        args = [
            "grpc_tools.protoc",
            f"-I{root}",
            f"-I{wkt}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            str(root / PROTO_REL),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"grpc_tools.protoc failed: {' '.join(args)}")
        (tmp / "proto.sha256").write_text(digest + "\n")
        # Swap in the new tree; another process may have done the same meanwhile.
        if GEN_DIR.exists():
            shutil.rmtree(GEN_DIR, ignore_errors=True)
        try:
            tmp.rename(GEN_DIR)
        except OSError:
            if not _STAMP.is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return GEN_DIR


def load() -> tuple[ModuleType, ModuleType]:
    """Returns ``(learning_pb2, learning_pb2_grpc)`` of package learning.v1."""
    gen = str(generate())
    if gen not in sys.path:
        sys.path.insert(0, gen)
    pb2 = importlib.import_module("learning.v1.learning_pb2")
    pb2_grpc = importlib.import_module("learning.v1.learning_pb2_grpc")
    return pb2, pb2_grpc


if __name__ == "__main__":
    print(generate(force="--force" in sys.argv))
