#!/usr/bin/env bash
# Rust client example of learning-service: build.rs generates the client from ../../proto with
# tonic-prost-build (protoc from protoc-bin-vendored), then the story runs. The crate is checked
# with rustfmt and clippy first. Server: $LEARNING_SERVER (default 127.0.0.1:50051).
#
# It builds into the service's target/ (CARGO_TARGET_DIR, unless already set), where the same
# versions of tonic, prost and tokio are already compiled: Cargo.lock pins the service's versions.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/../../target}
cargo fmt --check
cargo clippy --locked --quiet --all-targets -- -D warnings
cargo build --locked --quiet
exec "$CARGO_TARGET_DIR/debug/learning-client-story"
