# syntax=docker/dockerfile:1
# cfsign: build in the Rust image, run on distroless as a non-root user.
# No keys, secrets or configuration are baked in: mount them.
#   docker build -t cfsign:0.1.0 .      # the tag deploy/kubernetes/deployment.yaml runs
#   docker run -p 8080:8080 -v $PWD/config/prod.toml:/etc/cfsign/config.toml:ro \
#     -v /path/to/keys:/run/secrets/cloudfront:ro cfsign:0.1.0

FROM rust:1.95-slim-bookworm AS build
# Vendored OpenSSL is built from source: it needs perl and make (gcc is in the image).
RUN apt-get update \
    && apt-get install -y --no-install-recommends perl=5.36.0-7+deb12u3 make=4.3-4.1 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# Dependency layer: built from the manifests alone, cached until they change.
COPY Cargo.toml Cargo.lock ./
# Build settings (mimalloc's commit-on-use arenas).
COPY .cargo/config.toml .cargo/
COPY crates/cfsign-signing/Cargo.toml crates/cfsign-signing/
# Every target the manifest declares must exist, so each gets a stub.
RUN mkdir -p src benches examples crates/cfsign-signing/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs crates/cfsign-signing/src/lib.rs \
    && for f in benches/signing.rs benches/auth.rs examples/peer_loop.rs; do echo 'fn main() {}' > "$f"; done \
    && cargo build --release --locked \
    && rm -rf src benches examples crates/cfsign-signing/src

# The application itself (and its signing core, a workspace member).
COPY crates/cfsign-signing/src ./crates/cfsign-signing/src
COPY src ./src
COPY benches ./benches
COPY examples ./examples
COPY openapi.yaml ./
RUN touch src/main.rs src/lib.rs crates/cfsign-signing/src/lib.rs && cargo build --release --locked --bin cfsign

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/cfsign /usr/local/bin/cfsign
COPY config/example.toml /etc/cfsign/example.toml
# distroless "nonroot" user, numerically so Kubernetes runAsNonRoot can check it.
USER 65532:65532
ENV CFSIGN_LISTEN=0.0.0.0:8080 \
    CFSIGN_LOG_FORMAT=json
EXPOSE 8080
# The binary checks its own readiness: the image needs no curl or shell.
# `cfsign healthcheck` probes where serve listens: CFSIGN_LISTEN (0.0.0.0 is
# checked on loopback). Move the port with `-e CFSIGN_LISTEN=0.0.0.0:9000`,
# not `serve --listen`, and the check follows.
HEALTHCHECK --interval=15s --timeout=4s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/cfsign", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/cfsign"]
CMD ["serve", "--config", "/etc/cfsign/config.toml"]
