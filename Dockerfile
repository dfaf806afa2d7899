# syntax=docker/dockerfile:1
#
# learning-service in a container: a build stage with the Rust toolchain,
# and a slim runtime with the binary alone, run as a user without
# privileges, the database on a volume, and a health check that asks the
# server's grpc.health.v1.
#
#   docker build -t learning-service .
#   docker run -d --name learning -p 50051:50051 -p 9464:9464 \
#     -v learning-data:/data learning-service
#   docker stop -t 30 learning     # SIGTERM: queued writes are committed first
#
# Not built on the development machine (it has no Docker engine): see the
# README's "Operating" section.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
WORKDIR /src
# protoc comes from a crate and SQLite is bundled: no system packages.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin learning-service \
    && install -m 0755 target/release/learning-service /usr/local/bin/learning-service

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# A fixed uid, so that a volume's files keep their owner across images.
RUN groupadd --system --gid 10001 learning \
    && useradd --system --uid 10001 --gid learning --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin learning \
    && mkdir /data && chown learning:learning /data && chmod 0700 /data
COPY --from=build /usr/local/bin/learning-service /usr/local/bin/learning-service

ENV LEARNING_DB=/data/learning.db \
    LEARNING_LISTEN=0.0.0.0:50051 \
    LEARNING_METRICS_LISTEN=0.0.0.0:9464 \
    LEARNING_LOG_FORMAT=json \
    LEARNING_SERVER=127.0.0.1:50051
VOLUME ["/data"]
EXPOSE 50051 9464
USER 10001:10001
WORKDIR /data
STOPSIGNAL SIGTERM
# Exit 0 only when the server answers SERVING (the store probe passes);
# grpc.health.v1 needs no token. With TLS, also set LEARNING_TLS_CA.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["learning-service", "health", "--timeout", "3s"]
ENTRYPOINT ["learning-service"]
CMD ["serve"]
