#!/usr/bin/env bash
# Go client example of learning-service: generates the client from ../../proto with buf and
# the protoc-gen-go / protoc-gen-go-grpc versions pinned in go.mod, vets it, then runs the story.
# Server: $LEARNING_SERVER (default 127.0.0.1:50051).
set -euo pipefail
cd "$(dirname "$0")"
GOBIN="$PWD/.bin" go install tool          # the plugins named by the tool directives of go.mod
../buf/buf.sh generate                       # buf.gen.yaml: ../../proto -> gen/
go vet ./...                                 # the story and the generated client
go build -o .bin/story .
exec .bin/story
