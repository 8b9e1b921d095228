# syntax=docker/dockerfile:1
# The MCP Registry Server image: registry-api, registry-worker and registry-admin in one image, on Debian 12
# (bookworm, the release the binaries are built and checked on). It runs as a non-root user and needs no shell:
# every command below the build stage is in exec form, and the health check is the binary's own. Run it with a
# read-only root filesystem; /data is the one place it writes (the SQLite file, git clones):
#
#   docker build --build-arg GIT_COMMIT="$(git rev-parse --short=12 HEAD)" -t mcp-registry .
#   docker run --read-only -v registry-data:/data -v "$PWD/examples:/data/examples:ro" -p 8080:8080 \
#     mcp-registry registry-api serve --config examples/quickstart.yaml
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
# git2 links OpenSSL; libz-sys builds or links zlib.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The image has no .git: the commit the binaries report (build_info, /version) comes from here.
ARG GIT_COMMIT=unknown
ENV GIT_COMMIT=${GIT_COMMIT}
# Cargo features, e.g. --build-arg CARGO_FEATURES=registry-runtime/otlp for OTLP trace export.
ARG CARGO_FEATURES=""
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --features "${CARGO_FEATURES}" \
      --bin registry-api --bin registry-worker --bin registry-admin \
 && mkdir -p /out \
 && cp target/release/registry-api target/release/registry-worker target/release/registry-admin /out/

# The runtime image, less its binaries; the last two stages add them.
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# Every shared library the binaries link, by package: scripts/test.sh checks each library `ldd` lists against
# this list. CA certificates for HTTPS sources and identity providers.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libc6 libgcc-s1 libssl3 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 registry \
 && useradd --system --uid 10001 --gid registry --home-dir /data --no-create-home --shell /usr/sbin/nologin registry \
 && mkdir -p /data /etc/mcp-registry \
 && chown registry:registry /data

ARG VERSION=0.1.0
ARG GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="MCP Registry Server" \
      org.opencontainers.image.description="MCP Registry API v0.1 server, sync worker and admin CLI" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
# 8080: the API; 8081: the internal listener (metrics and probes), never for the public.
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["registry-api", "healthcheck"]
CMD ["registry-api", "serve", "--config", "/etc/mcp-registry/config.yaml"]

# `--target prebuilt`: the binaries of the build context's prebuilt/ folder, already built on Debian 12 (the
# test suite's own, so CI compiles the workspace once). No ARG picks the stage: buildah 1.28 skips a stage
# named only by an ARG's default as unused.
FROM runtime AS prebuilt
COPY prebuilt/registry-api prebuilt/registry-worker prebuilt/registry-admin /usr/local/bin/

# The default: the binaries of the build stage.
FROM runtime
COPY --from=build /out/ /usr/local/bin/
