#!/usr/bin/env bash
# The dashboard in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by
# playwright-core) against live servers with seeded data (dashboard/test/dashboard.test.ts, run
# by node's test runner). Screenshots go to dashboard/test-output/ (DASHBOARD_SCREENSHOTS).
#
#   dashboard/test.sh
#
# The server is built with `cargo build --locked` unless LEARNING_SERVICE_BIN names a binary.
# Without Chromium the tests are skipped, except with CI=true, where they fail.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=packages.sh
source "$here/packages.sh"
install_packages "$here"

if [[ -z ${LEARNING_SERVICE_BIN:-} ]]; then
  (cd "$root" && cargo build --locked)
  export LEARNING_SERVICE_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/learning-service"
fi

# The tests are TypeScript over the generated client: bundled for node first, next to
# node_modules so that the packages (left outside the bundle) resolve.
build="$here/node_modules/.cache/dashboard-test"
rm -rf "$build"
"$here/node_modules/.bin/esbuild" "$here/test/dashboard.test.ts" --bundle --platform=node \
  --format=esm --packages=external --log-level=warning --outfile="$build/dashboard.test.mjs"
cd "$root"
exec node --test --test-reporter=spec --test-timeout=120000 "$build/dashboard.test.mjs"
