#!/usr/bin/env bash
# Python client example of learning-service, used as a package: pyproject.toml is built into a
# wheel (the build generates the stubs from ../../proto) that is installed into a fresh .venv
# next to the pinned packages of requirements.txt. Source, proto or pins changed: both again.
#   ./run.sh                 the story over the generated stubs (story.py)
#   ./run.sh test [ARGS]     the adapter's tests (tests/), returning its own record classes
#   ./run.sh test-original   the same with tests/stand_in on the path: the original's classes
#   ./run.sh typecheck       mypy --strict on the package as built (the wheel) and on story.py
#   ./run.sh setup           only build the wheel into dist/ and install it into .venv
# Server: $LEARNING_SERVER (default 127.0.0.1:50051).
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
inputs() {
  cat ../../proto/learning/v1/learning.proto pyproject.toml hatch_build.py requirements.txt requirements-build.txt
  find src \( -name '*.py' -o -name py.typed \) -print | LC_ALL=C sort | xargs cat
}
stamp=$(inputs | sha256sum | cut -d' ' -f1)
if [[ ! -x .venv/bin/python ]] || [[ $(cat .venv/.built-from 2>/dev/null) != "$stamp" ]]; then
  echo "python: building the wheel, installing it into a fresh .venv" >&2
  rm -rf .venv dist
  "$PY" -m venv .venv
  "${pip[@]}" install -r requirements.txt
  # An isolated build, as `pip install .` does, with every build package pinned.
  PIP_CONSTRAINT=$PWD/requirements-build.txt "${pip[@]}" wheel --no-deps -w dist .
  # --no-index: the wheel's dependencies must all be among the pinned ones.
  "${pip[@]}" install --no-index dist/learning_client-*.whl
  echo "$stamp" >.venv/.built-from
fi

case "${1:-story}" in
  story) exec .venv/bin/python story.py ;;
  test) shift; LEARNING_CLIENT_EXPECT_MODELS=own exec .venv/bin/python -m pytest -q "$@" ;;
  test-original)
    shift
    PYTHONPATH=$PWD/tests/stand_in LEARNING_CLIENT_EXPECT_MODELS=original exec .venv/bin/python -m pytest -q "$@"
    ;;
  typecheck)
    unpacked=$(mktemp -d)
    trap 'rm -rf "$unpacked"' EXIT
    .venv/bin/python -m zipfile -e dist/learning_client-*.whl "$unpacked"
    .venv/bin/mypy --strict --cache-dir .venv/mypy-cache "$unpacked/learning_client" story.py
    ;;
  setup) ;;
  *) echo "usage: $0 [story|test|test-original|typecheck|setup] [pytest arguments]" >&2; exit 2 ;;
esac
