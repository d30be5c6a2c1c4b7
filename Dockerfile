# syntax=docker/dockerfile:1
# aisbf-doctor: build with the Rust toolchain, run on a slim Debian as a
# non-root user. Config is mounted at /etc/aisbf-doctor/aisbf-doctor.toml;
# the SQLite store lives in the /var/lib/aisbf-doctor volume.

FROM rust:1.95-slim-bookworm AS builder
WORKDIR /build
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY benches ./benches
# The workspace member (the test-only fake Discord) must exist for Cargo to load the workspace.
COPY crates ./crates
# The same command README and scripts/check-packaging.sh use, so the image
# carries the binary `cargo install` gives (release profile, locked deps).
RUN cargo install --locked --path . --root /usr/local \
    && strip /usr/local/bin/aisbf-doctor

FROM debian:bookworm-slim
# ca-certificates: TLS to nodes, Discord and MySQL. Nothing else is needed:
# rustls is built in and the health check is the binary itself (no curl).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates=20230311* \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 aisbf-doctor \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/aisbf-doctor --shell /usr/sbin/nologin aisbf-doctor \
    && mkdir -p /etc/aisbf-doctor /var/lib/aisbf-doctor \
    && chown aisbf-doctor:aisbf-doctor /var/lib/aisbf-doctor
COPY --from=builder /usr/local/bin/aisbf-doctor /usr/local/bin/aisbf-doctor
USER 10001:10001
WORKDIR /var/lib/aisbf-doctor
ENV AISBF_DOCTOR_CONFIG=/etc/aisbf-doctor/aisbf-doctor.toml \
    AISBF_DOCTOR_HEALTHCHECK_URL=http://127.0.0.1:8080/healthz \
    LOG_FORMAT=json
VOLUME ["/var/lib/aisbf-doctor"]
# /healthz and /metrics of `serve`.
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["aisbf-doctor", "healthcheck"]
ENTRYPOINT ["aisbf-doctor"]
CMD ["serve"]
