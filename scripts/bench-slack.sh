#!/bin/sh
# Measures the Slack edge: signed slash command -> 200 ack (p50/p99, 50
# concurrent commands), time to the verdict at the response URL, and the
# Socket Mode envelope -> ack latency. Everything runs on loopback against
# the fake Slack and fake AISBF nodes.
set -eu
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then
    cargo build --release --locked --example bench_slack
else
    cargo build --locked --example bench_slack
fi
"${CARGO_TARGET_DIR:-target}/$PROFILE/examples/bench_slack" "${ROUNDS:-10}"
