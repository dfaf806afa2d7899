"""Hatchling build hook: generates the learning.v1 stubs into the wheel, at build time.

grpcio-tools' protoc writes the messages (``learning_pb2.py``) and the gRPC stubs
(``learning_pb2_grpc.py``); mypy-protobuf writes their type stubs (``.pyi``). They become the
module ``learning_client.v1``. The proto is found, in this order, in ``$LEARNING_PROTO_DIR``,
in ``proto/`` of this directory (an sdist carries it there) and in ``../../proto`` (this
repository). An sdist gets the proto copied into ``proto/``.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PROTO = "learning/v1/learning.proto"
PACKAGE_DIR = "learning_client/v1"
GENERATED = ("learning_pb2.py", "learning_pb2.pyi", "learning_pb2_grpc.py", "learning_pb2_grpc.pyi")
# protoc writes absolute imports of the proto's package path (`from learning.v1 import
# learning_pb2`); inside learning_client.v1 that module is a sibling.
_ABSOLUTE_IMPORT = re.compile(r"^from learning\.v1 import learning_pb2 as (\w+)$", re.M)


def proto_root(project: Path) -> Path:
    candidates = [Path(os.environ["LEARNING_PROTO_DIR"])] if os.environ.get("LEARNING_PROTO_DIR") else []
    candidates += [project / "proto", project.parent.parent / "proto"]
    for root in candidates:
        if (root / PROTO).is_file():
            return root.resolve()
    raise FileNotFoundError(
        f"{PROTO} not found in {', '.join(map(str, candidates))}; set LEARNING_PROTO_DIR to the directory that holds it"
    )


def _plugin(name: str) -> str:
    """A protoc plugin script of mypy-protobuf, installed next to this interpreter."""
    for scripts in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        path = Path(scripts) / (name + (".exe" if os.name == "nt" else ""))
        if path.is_file():
            return str(path)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} (from mypy-protobuf) not found")
    return found


def generate(root: Path, out: Path) -> list[Path]:
    """Runs protoc on the proto; returns the generated files, in ``out``."""
    import grpc_tools
    from grpc_tools import protoc

    work = Path(tempfile.mkdtemp(prefix="learning-protoc-"))
    try:
        well_known = Path(grpc_tools.__file__).resolve().parent / "_proto"
        args = [
            "grpc_tools.protoc",
            f"-I{root}",
            f"-I{well_known}",
            f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
            f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
            f"--python_out={work}",
            f"--grpc_python_out={work}",
            f"--mypy_out={work}",
            f"--mypy_grpc_out={work}",
            str(root / PROTO),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed: {' '.join(args)}")
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name in GENERATED:
            text = (work / "learning" / "v1" / name).read_text(encoding="utf-8")
            if "_grpc" in name:
                text, count = _ABSOLUTE_IMPORT.subn(r"from . import learning_pb2 as \1", text)
                if count != 1:
                    raise RuntimeError(f"{name}: expected one import of learning.v1.learning_pb2, found {count}")
            if re.search(r"^\s*(from|import) learning\b", text, re.M):
                raise RuntimeError(f"{name}: an import of the top-level package `learning` is left")
            (out / name).write_text(text, encoding="utf-8")
            written.append(out / name)
        return written
    finally:
        shutil.rmtree(work, ignore_errors=True)


class ProtoStubsHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        project = Path(self.root)
        root = proto_root(project)
        if self.target_name == "sdist":
            if root != (project / "proto").resolve():
                build_data["force_include"][str(root / PROTO)] = f"proto/{PROTO}"
            return
        if version == "editable":
            # An editable install imports src/ itself, so the stubs must be there (gitignored).
            generate(root, project / "src" / PACKAGE_DIR)
            return
        self._out = Path(tempfile.mkdtemp(prefix="learning-stubs-"))
        for path in generate(root, self._out):
            build_data["force_include"][str(path)] = f"{PACKAGE_DIR}/{path.name}"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        out = getattr(self, "_out", None)
        if out is not None:
            shutil.rmtree(out, ignore_errors=True)
