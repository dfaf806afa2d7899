#!/usr/bin/env bash
# Java client example of learning-service: Maven generates the client from ../../proto
# (protobuf-maven-plugin), compiles it and runs the story. Server: $LEARNING_SERVER
# (default 127.0.0.1:50051).
set -euo pipefail
cd "$(dirname "$0")"
exec mvn -q -B -Dstyle.color=never compile exec:java
