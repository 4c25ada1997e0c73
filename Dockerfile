# Parley: the server with its embedded browser client, in a small non-root image.
#
#   DOCKER_BUILDKIT=1 docker build -t parley .
#
# Behind a TLS-intercepting (corporate) proxy, give the builder the proxy's CA so cargo can reach
# crates.io; HTTP(S)_PROXY/NO_PROXY build args are passed through by Docker as usual:
#
#   DOCKER_BUILDKIT=1 docker build --secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt \
#     --build-arg HTTPS_PROXY=http://proxy:3128 -t parley .
#
# No "# syntax=" line on purpose: the built-in Dockerfile frontend is used, so nothing has to be
# pulled. Deployment: docs/deployment.md.

# ---- builder ------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder

WORKDIR /src

# The workspace: manifests, every crate, and the browser client the server embeds
# (.dockerignore keeps out target/, tests, node_modules and the rest).
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY web web

# One step, two BuildKit cache mounts that outlive it: the crates.io registry and cargo's target
# directory. Compiled dependencies stay in the target cache, so after a change to Parley only the
# workspace's own crates are compiled again (and when nothing in the context changed, this layer
# is reused as it is). Unlike a dummy-crate layer, this needs no list of the workspace's crates.
#
# cargo fetch is the only part that uses the network. The optional ca_bundle secret (the CA of a
# TLS-intercepting proxy) is added to the system trust store for it; nothing of it is kept.
# Touching the server's sources makes cargo recompile it, so files added to web/ are embedded.
RUN --mount=type=secret,id=ca_bundle,required=false \
    --mount=type=cache,id=parley-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=parley-cargo-target,target=/src/target,sharing=locked \
    if [ -s /run/secrets/ca_bundle ]; then \
        echo "adding the ca_bundle build secret to the trust store for cargo fetch"; \
        cat /etc/ssl/certs/ca-certificates.crt /run/secrets/ca_bundle > /tmp/ca-bundle.pem; \
        export SSL_CERT_FILE=/tmp/ca-bundle.pem CARGO_HTTP_CAINFO=/tmp/ca-bundle.pem; \
    fi \
    && cargo fetch --locked \
    && rm -f /tmp/ca-bundle.pem \
    && touch crates/parley/src/main.rs crates/parley/src/lib.rs \
    && cargo build --release --locked --offline --bin parley \
    && install -m 0755 target/release/parley /usr/local/bin/parley \
    && /usr/local/bin/parley --version

# ---- runtime ------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime

# ca-certificates: the breached-password API (A3) is reached over HTTPS. Versions follow the
# bookworm point releases and security updates, so they are deliberately not pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 parley \
    && useradd --system --uid 10001 --gid parley --home-dir /data --no-create-home \
               --shell /usr/sbin/nologin parley \
    && mkdir -m 0700 /data \
    && chown parley:parley /data

COPY --from=builder /usr/local/bin/parley /usr/local/bin/parley

# The same settings serve and healthcheck read. PARLEY__DOMAIN defaults to localhost.
ENV PARLEY__DATA_DIR=/data \
    PARLEY__LISTEN=0.0.0.0:8443

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8443

# `parley healthcheck` makes one HTTPS request to /api/health over the TLS policy, trusting
# /data/tls/ca.pem. With your own certificate (PARLEY__TLS_CERT) pass --ca-file in compose.
HEALTHCHECK --interval=10s --timeout=6s --start-period=30s --retries=3 \
    CMD ["parley", "healthcheck"]

# parley itself is PID 1: it handles SIGTERM (finishes requests for up to 10 s, then exits 0).
STOPSIGNAL SIGTERM
ENTRYPOINT ["parley"]
CMD ["serve"]
