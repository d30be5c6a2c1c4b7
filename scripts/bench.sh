#!/bin/sh
# Prints every benchmark figure in one table, so a change can be compared in
# one run: the fan-out benchmark (this repo's benches/fanout.rs, release
# profile) plus the cache-flush and Discord benchmarks when their scripts exist.
#
#   scripts/bench.sh                 # all figures
#   FANOUT_NS=10,100 scripts/bench.sh
set -eu
cd "$(dirname "$0")/.."

echo "## aisbf-doctor benchmarks ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
echo
cargo bench --quiet --bench fanout

for other in bench-cache bench-discord; do
    script="scripts/$other.sh"
    echo
    if [ -x "$script" ]; then
        "$script"
    else
        echo "($script not present: skipped)"
    fi
done
