#!/usr/bin/env bash
# grpcurl example of learning-service: installs grpcurl (requirements.txt) into .venv when
# needed, then runs story.sh. Server: $LEARNING_SERVER (default 127.0.0.1:50051).
# Set GRPCURL to use another grpcurl binary instead.
set -euo pipefail
cd "$(dirname "$0")"
if [[ -z ${GRPCURL:-} ]]; then
  if [[ ! -x .venv/bin/grpcurl ]] || ! cmp -s requirements.txt .venv/.installed-requirements.txt; then
    echo "grpcurl: installing requirements.txt into .venv" >&2
    python3 -m venv .venv
    .venv/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt
    cp requirements.txt .venv/.installed-requirements.txt
  fi
  export GRPCURL="$PWD/.venv/bin/grpcurl"
fi
exec ./story.sh
