#!/bin/sh
# Measures the Discord edge: signed interaction -> type 5 latency (p50/p99,
# 50 concurrent commands), time to the verdict PATCH, and serve start-up.
# Everything runs on loopback against the fake Discord and fake AISBF nodes.
set -eu
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then
    cargo build --release --locked --bin aisbf-doctor --example bench_discord
else
    cargo build --locked --bin aisbf-doctor --example bench_discord
fi
"${CARGO_TARGET_DIR:-target}/$PROFILE/examples/bench_discord" "${CARGO_TARGET_DIR:-target}/$PROFILE/aisbf-doctor" "${ROUNDS:-10}"
