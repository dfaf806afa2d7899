#!/usr/bin/env bash
# Runs the buf CLI pinned in package.json / package-lock.json, installing it with `npm ci`
# first when node_modules is missing or the lock file changed. Usage: buf.sh <buf args>
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [[ ! -e "$here/node_modules/.bin/buf" ]] || ! cmp -s "$here/package-lock.json" "$here/node_modules/.installed-package-lock.json"; then
  echo "buf: npm ci in $here" >&2
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2)
  cp "$here/package-lock.json" "$here/node_modules/.installed-package-lock.json"
fi
exec "$here/node_modules/.bin/buf" "$@"
