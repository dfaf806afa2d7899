#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on loopback for the test suite (Debian's
# `postgresql` package, installed when missing) and prints its URL. Idempotent:
# a cluster left by an earlier run is reused.
set -euo pipefail
port="${LEARNING_TEST_PG_PORT:-55432}"
name=learning_ci
if ! command -v pg_createcluster >/dev/null || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
    echo "installing postgresql (Debian package)" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
version="$(ls /usr/lib/postgresql | sort -n | tail -1)"
if ! pg_lsclusters -h | awk '{print $1 "/" $2}' | grep -qx "$version/$name"; then
    # Trust auth: a throwaway cluster that listens on localhost only (the default).
    pg_createcluster "$version" "$name" -p "$port" \
        -o "max_connections=300" \
        -- --auth-local=trust --auth-host=trust --no-sync >&2
fi
pg_ctlcluster "$version" "$name" start >&2 2>/dev/null || true
for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 0.5
done
pg_isready -h 127.0.0.1 -p "$port" >&2
psql -q -h 127.0.0.1 -p "$port" -U postgres -tc \
    "SELECT 1 FROM pg_database WHERE datname = 'learning_test'" | grep -q 1 ||
    psql -q -h 127.0.0.1 -p "$port" -U postgres -c "CREATE DATABASE learning_test" >&2
echo "postgres://postgres@127.0.0.1:$port/learning_test"
