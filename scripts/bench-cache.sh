#!/usr/bin/env bash
# Census rate of `aisbf-doctor check cache` (SCAN over the whole keyspace)
# against `redis-cli --scan | wc -l`, then the flush rate of `aisbf-doctor cache flush` against the usual one-liner
#   redis-cli --scan --pattern 'P*' | xargs redis-cli unlink
# on the same data: N keys under the flushed prefix plus N keys under a neighbour
# prefix that must survive. Local Redis only (127.0.0.1:6379 by default).
#
#   scripts/bench-cache.sh [N] [BIN] [BATCH]   N default 1000000; BIN default target/release or
#                                              target/debug; BATCH = --batch (default 1000)
set -euo pipefail
N=${1:-1000000}
BIN=${2:-}
BATCH=${3:-1000}
if [[ -z "$BIN" ]]; then
  target_dir=${CARGO_TARGET_DIR:-target}
  if [[ -x $target_dir/release/aisbf-doctor ]]; then BIN=$target_dir/release/aisbf-doctor; else BIN=$target_dir/debug/aisbf-doctor; fi
fi
HOST=${REDIS_HOST:-127.0.0.1}; PORT=${REDIS_PORT:-6379}
RC=(redis-cli -h "$HOST" -p "$PORT")
ROOT="aisbf-doctor-bench:$$:"
P="${ROOT}prod:"; KEEP="${ROOT}staging:"
CFG=$(mktemp); trap 'rm -f "$CFG"; cleanup' EXIT
cleanup() { "${RC[@]}" --scan --pattern "${ROOT}*" | xargs -r -n 1000 "${RC[@]}" unlink >/dev/null || true; }
cat > "$CFG" <<TOML
[cluster]
name = "bench"
user = "bench"
token = "unused"
[[cluster.nodes]]
name = "n"
url = "http://127.0.0.1:9"
[cache]
url = "redis://$HOST:$PORT/0"
prefix = "$P"
response_prefix = "${P}response:"
[[cache.other_environments]]
name = "staging"
prefix = "$KEEP"
TOML

load() { # prefix count: RESP-encoded SETs through redis-cli --pipe
  python3 - "$1" "$2" <<'PY' | "${RC[@]}" --pipe >/dev/null
import sys
p, n = sys.argv[1].encode(), int(sys.argv[2])
out = sys.stdout.buffer
for i in range(n):
    k = p + str(i).encode()
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n" % (len(k), k))
PY
}
count() { "${RC[@]}" --scan --pattern "$1*" | wc -l; }
now() { date +%s.%N; }

echo "N=$N keys under $P, $N under $KEEP; binary $BIN"
load "$KEEP" "$N"

load "$P" "$N"
total=$("${RC[@]}" dbsize)
t0=$(now); census=$("$BIN" --config "$CFG" check cache --format json || true); t1=$(now)
note=""; if grep -q "time budget" <<<"$census"; then note=" (stopped at its 10 s budget: rate is an upper bound)"; fi
echo "aisbf-doctor check cache census over $total keys: $(python3 -c "print(f'{$t1-$t0:.2f}')")s, $(python3 -c "print(int($total/($t1-$t0)))") keys/s$note"
t0=$(now); "${RC[@]}" --scan | wc -l >/dev/null; t1=$(now)
echo "redis-cli --scan | wc -l over $total keys: $(python3 -c "print(f'{$t1-$t0:.2f}')")s, $(python3 -c "print(int($total/($t1-$t0)))") keys/s"

t0=$(now); "$BIN" --config "$CFG" cache flush --prefix "$P" --yes --batch "$BATCH"; t1=$(now)
d=$(python3 -c "print(f'{$t1-$t0:.2f}')"); left=$(count "$P"); kept=$(count "$KEEP")
echo "aisbf-doctor cache flush (batch $BATCH): ${d}s, $(python3 -c "print(int($N/($t1-$t0)))") keys/s, left $left, neighbour $kept/$N"

load "$P" "$N"
t0=$(now); "${RC[@]}" --scan --pattern "$P*" | xargs "${RC[@]}" unlink >/dev/null; t1=$(now)
d=$(python3 -c "print(f'{$t1-$t0:.2f}')"); left=$(count "$P"); kept=$(count "$KEEP")
echo "redis-cli --scan | xargs redis-cli unlink: ${d}s, $(python3 -c "print(int($N/($t1-$t0)))") keys/s, left $left, neighbour $kept/$N"
