#!/usr/bin/env bash
# Benchmark of the action's image: the static release build of this machine, in the image from
# Dockerfile, run through the whole smoke test (scripts/image-smoke.sh --release, which fails
# when the image is not under 20 MB). Prints the build time, the binary's and the image's size.
# The released image holds the musl build instead (scripts/build-musl.sh, on GitHub), whose size
# ci.yml's container job checks against the same budget.
# Usage: benches/image.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ecs-deploy/target}"
HOST="$(rustc -vV | sed -n 's/^host: //p')"
start=$SECONDS
RUSTFLAGS='-C target-feature=+crt-static' cargo build --quiet --locked --release --target "$HOST" --bin ecs-deploy
BIN="$CARGO_TARGET_DIR/$HOST/release/ecs-deploy"
echo "static release build for $HOST: $((SECONDS - start)) s (0 when warm), binary $(wc -c <"$BIN") bytes"
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
start=$SECONDS
scripts/image-smoke.sh --binary "$BIN" >"$LOG" 2>&1 || { cat "$LOG"; exit 1; }
grep -E '^(image |result=|image size)' "$LOG"
echo "smoke test of the release image: $((SECONDS - start)) s"
