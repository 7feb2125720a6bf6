# syntax=docker/dockerfile:1
#
# One build, one image per service: pick it with --target.
#
#   docker build --target order-query          -t paybridge/order-query .
#   docker build --target deposit-confirmation -t paybridge/deposit-confirmation .
#   docker build --target portone-gateway      -t paybridge/portone-gateway .
#   docker build --target portone-sandbox      -t paybridge/portone-sandbox .
#
# The builder stage compiles all four binaries in one cargo invocation, so BuildKit builds it
# once and every target reuses it. `docker compose up --build` does exactly that.
#
# scripts/check-build-cmd.py (run by scripts/validate-deploy.sh in CI) holds this file to the
# build CI tests: the same toolchain as `rustc --version` on CI, the same lockfile (--locked),
# the same features, every package under services/, and the same flags for `cargo chef cook`
# as for `cargo build` (otherwise the cached dependency layer is built for nothing).

# The toolchain the project builds and tests with (rustc 1.95.0). Bookworm, like the runtime
# below, so the binaries link against the glibc they run with.
FROM rust:1.95.0-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /app

# The dependency recipe: only manifests and the lockfile matter, so the layer below changes only
# when dependencies do.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --locked -p order-query -p deposit-confirmation -p portone-gateway -p portone-sandbox --recipe-path recipe.json
# The sources, including what the binaries embed at compile time: migrations/ (embed_migrations!),
# config/ and docker-compose.yml (platform's list of shipped, hence public, tokens).
COPY . .
RUN cargo build --release --locked -p order-query -p deposit-confirmation -p portone-gateway -p portone-sandbox

# What every service image shares. distroless/cc: glibc, libgcc, CA certificates and tzdata, no
# shell, no package manager, no compiler. The binaries need nothing else: TLS is rustls and the
# PostgreSQL driver is pure Rust (no libpq, no OpenSSL).
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
# Readable by the service user, writable by nobody but root.
COPY config/ /etc/paybridge/
# An image started without configuration runs as production: it refuses to start without real
# secrets rather than accepting the development token from config/development.toml. The compose
# stack and the local overlay set PAYBRIDGE_ENV=development.
ENV PAYBRIDGE_CONFIG_DIR=/etc/paybridge \
    PAYBRIDGE_ENV=production
WORKDIR /
# distroless's "nonroot" user, by number, so that runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532

# Each image: one binary, its port, a HEALTHCHECK that needs nothing but the binary itself (it GETs
# its own /health), and the binary as exec-form entrypoint so that SIGTERM reaches it directly.
# `serve` is the default command; `migrate` applies the migrations and exits.

FROM runtime AS order-query
COPY --from=builder /app/target/release/order-query /usr/local/bin/order-query
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 CMD ["/usr/local/bin/order-query", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/order-query"]
CMD ["serve"]

FROM runtime AS deposit-confirmation
COPY --from=builder /app/target/release/deposit-confirmation /usr/local/bin/deposit-confirmation
EXPOSE 8082
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 CMD ["/usr/local/bin/deposit-confirmation", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/deposit-confirmation"]
CMD ["serve"]

FROM runtime AS portone-gateway
COPY --from=builder /app/target/release/portone-gateway /usr/local/bin/portone-gateway
EXPOSE 8083
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 CMD ["/usr/local/bin/portone-gateway", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/portone-gateway"]
CMD ["serve"]

FROM runtime AS portone-sandbox
COPY --from=builder /app/target/release/portone-sandbox /usr/local/bin/portone-sandbox
EXPOSE 8089
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["/usr/local/bin/portone-sandbox", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/portone-sandbox"]
CMD ["serve"]
