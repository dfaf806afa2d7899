#!/usr/bin/env bash
# Lints the learning.v1 contract (buf STANDARD rules, see ../buf.yaml) and checks it for
# breaking changes (buf FILE rules) against the committed baseline image
# client-examples/contract/learning-v1.binpb.
#
#   client-examples/buf-check.sh                    lint + breaking check
#   client-examples/buf-check.sh --update-baseline  rewrite the baseline from the current proto
#                                                   (when a contract version is published)
#
# buf is the npm package @bufbuild/buf pinned in buf/package.json + buf/package-lock.json
# (installed by `npm ci` on first use).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
buf="$here/buf/buf.sh"
baseline=client-examples/contract/learning-v1.binpb

if [[ ${1:-} == --update-baseline ]]; then
  "$buf" build --exclude-source-info -o "$baseline"
  echo "wrote $baseline from proto/"
  exit 0
fi
echo "+ buf lint"
"$buf" lint
echo "+ buf breaking proto --against $baseline"
"$buf" breaking proto --against "$baseline"
echo "buf: lint (STANDARD) and breaking (FILE) checks passed, buf $("$buf" --version)"
