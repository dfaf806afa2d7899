#!/usr/bin/env bash
# Rebuilds the dashboard that learning-service embeds (dashboard/dist/, committed) from its
# sources: the gRPC-Web client code from the proto (src/gen/, by protoc-gen-es through buf), a
# type check (tsc), and one bundle (esbuild) of the TypeScript, uPlot and their CSS.
#
#   dashboard/build.sh           rebuild src/gen/ and dist/
#
# The output depends only on the sources and the pinned packages (package-lock.json): fixed
# file names, no time stamps, no source maps. CI runs this and then `git diff --exit-code
# dashboard/` to check that the committed output matches its sources.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"

# shellcheck source=packages.sh
source "$here/packages.sh"
install_packages "$here"

echo "dashboard: buf generate (protoc-gen-es) -> dashboard/src/gen" >&2
(cd "$root" && client-examples/buf/buf.sh generate --template dashboard/buf.gen.yaml)

echo "dashboard: tsc --noEmit (page and tests)" >&2
(cd "$here" && node_modules/.bin/tsc --noEmit -p tsconfig.json && node_modules/.bin/tsc --noEmit -p test/tsconfig.json)

echo "dashboard: esbuild -> dashboard/dist" >&2
rm -rf "$here/dist"
mkdir -p "$here/dist"
(cd "$here" && node_modules/.bin/esbuild src/main.ts \
  --bundle --format=esm --target=es2022 --minify --charset=utf8 --legal-comments=eof \
  --log-level=warning --outfile=dist/app.js)
cp "$here/src/index.html" "$here/dist/index.html"
ls -l "$here/dist" >&2
