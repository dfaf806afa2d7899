#!/usr/bin/env bash
# Node client example of learning-service: installs the pinned packages (npm ci, from
# package-lock.json) when needed, then runs the story. Server: $LEARNING_SERVER
# (default 127.0.0.1:50051).
set -euo pipefail
cd "$(dirname "$0")"
if [[ ! -d node_modules ]] || ! cmp -s package-lock.json node_modules/.installed-package-lock.json; then
  echo "node: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  cp package-lock.json node_modules/.installed-package-lock.json
fi
exec node story.js
