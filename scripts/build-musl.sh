#!/usr/bin/env bash
# The release binary of the action's image: a static musl build of `ecs-deploy` for the
# machine this runs on (x86_64 or aarch64), compiled in Docker's `rust:1.95-alpine`, whose C
# compiler targets musl natively (aws-lc-sys and ring compile C and assembly; Debian's and
# Ubuntu's musl-gcc lacks the Linux headers aws-lc needs). Used on GitHub's runners by
# .github/workflows/release.yml (one native runner per platform) and ci.yml's container job;
# it needs a Docker engine, which this project's development machines do not have.
#
#   scripts/build-musl.sh DEST     writes the binary to the file DEST
#
# The build's target directory is target/musl/ of the checkout.
set -euo pipefail
if [ "$#" -ne 1 ]; then
  echo "usage: scripts/build-musl.sh DEST" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
DEST="$1"
RUST_IMAGE="rust:1.95-alpine"
TRIPLE="$(uname -m)-unknown-linux-musl"
docker run --rm \
  -v "$PWD:/src" -w /src \
  -e CARGO_TARGET_DIR=/src/target/musl -e CARGO_HOME=/src/target/musl/cargo-home \
  -e CARGO_TERM_COLOR=never -e TRIPLE="$TRIPLE" -e OWNER="$(id -u):$(id -g)" \
  "$RUST_IMAGE" sh -euc '
    apk add --no-cache build-base linux-headers cmake perl >/dev/null
    status=0
    cargo build --release --locked --target "$TRIPLE" --bin ecs-deploy || status=$?
    chown -R "$OWNER" /src/target/musl
    exit "$status"'
BIN="target/musl/$TRIPLE/release/ecs-deploy"
"$BIN" --version # a static musl binary runs on the glibc runner as it is
mkdir -p "$(dirname "$DEST")"
cp "$BIN" "$DEST"
echo "static musl binary for $TRIPLE: $DEST ($(wc -c <"$DEST") bytes)"
