#!/usr/bin/env bash
# Python client example of learning-service.
#   ./run.sh          the story over the generated stubs (story.py)
#   ./run.sh test     the drop-in adapter's pytest suite (test_adapter.py)
#   ./run.sh setup    only create .venv and generate the stubs
# Server: $LEARNING_SERVER (default 127.0.0.1:50051).
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]] || ! cmp -s requirements.txt .venv/.installed-requirements.txt; then
  echo "python: installing requirements.txt into .venv" >&2
  "$PY" -m venv .venv
  .venv/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt
  cp requirements.txt .venv/.installed-requirements.txt
fi
.venv/bin/python -c "import learning_client"  # (re)generates the stubs from ../../proto

case "${1:-story}" in
  story) exec .venv/bin/python story.py ;;
  test) shift; exec .venv/bin/python -m pytest -q "$@" ;;
  setup) ;;
  *) echo "usage: $0 [story|test|setup]" >&2; exit 2 ;;
esac
