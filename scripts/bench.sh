#!/bin/sh
# Prints the benchmark figures as one Markdown table: the fan-out benchmark
# (benches/fanout.rs: check health against its peers at N = 100, 1,000 and
# 5,000, the slow and hung mixes, output size, start-up) and the serve
# benchmark (benches/serve.rs: start-up, RSS after a burst of commands), both
# release profile; then the cache-flush and Discord scripts when present.
# The header says when, on how many cores and at what load it ran: re-run on
# an idle machine before quoting a figure.
#
#   scripts/bench.sh                      # everything
#   FANOUT_NS=100,1000 scripts/bench.sh   # fewer cluster sizes
#   SKIP_OTHERS=1 scripts/bench.sh        # only the one table
#
# blackbox_exporter rows need Debian's prometheus-blackbox-exporter
# (apt-get install -y prometheus-blackbox-exporter); without it they are
# skipped. The open-file limit is raised by the benches themselves (5,000
# nodes are 5,000 listening sockets in the fleet's process).
set -eu
cd "$(dirname "$0")/.."

load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "## aisbf-doctor benchmarks ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $load at start, $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
echo
cargo bench --locked --quiet --no-run --bench fanout --bench serve 2>/dev/null || cargo bench --locked --no-run --bench fanout --bench serve
echo "| figure | value | note |"
echo "|---|---|---|"
cargo bench --locked --quiet --bench fanout
cargo bench --locked --quiet --bench serve
echo
echo "(load at the end: $(cut -d' ' -f1-3 /proc/loadavg))"

if [ -z "${SKIP_OTHERS:-}" ]; then
    for other in bench-cache bench-discord; do
        script="scripts/$other.sh"
        echo
        if [ -x "$script" ]; then
            "$script"
        else
            echo "($script not present: skipped)"
        fi
    done
fi
