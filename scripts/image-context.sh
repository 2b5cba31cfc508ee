#!/usr/bin/env bash
# Makes the build context of the action's image (Dockerfile): a new directory holding exactly
# what the image holds, the static binary as `ecs-deploy` and the PEM CA bundle as
# `ca-certificates.crt`. The release (.github/workflows/release.yml), CI's container job and
# the local proof (scripts/image-smoke.sh) all make their context here, so the image has one
# definition whichever binary goes in.
#
#   scripts/image-context.sh BINARY DIR
#
# BINARY must be statically linked (no ELF interpreter, no shared libraries): on `scratch`
# there is no loader, and a dynamic binary would fail with a bare "no such file or directory".
# The CA bundle is the build machine's, /etc/ssl/certs/ca-certificates.crt (Debian's and
# Ubuntu's `ca-certificates`), or CA_BUNDLE when set.
set -euo pipefail
if [ "$#" -ne 2 ]; then
  echo "usage: scripts/image-context.sh BINARY DIR" >&2
  exit 2
fi
BINARY="$1"
DIR="$2"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
fail() {
  echo "image-context: $1" >&2
  exit 1
}
[ -f "$BINARY" ] && [ -x "$BINARY" ] || fail "$BINARY is not an executable file"
command -v readelf >/dev/null || fail "readelf (binutils) is needed to check that $BINARY is static"
if readelf --program-headers "$BINARY" | grep -q 'INTERP'; then
  fail "$BINARY is dynamically linked (it names an ELF interpreter); build it static: the musl target, or -C target-feature=+crt-static"
fi
if readelf --dynamic "$BINARY" | grep -q '(NEEDED)'; then
  fail "$BINARY needs shared libraries ($(readelf --dynamic "$BINARY" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')); build it static"
fi
[ -s "$CA_BUNDLE" ] && grep -q 'BEGIN CERTIFICATE' "$CA_BUNDLE" ||
  fail "no PEM CA bundle at $CA_BUNDLE (install the ca-certificates package, or set CA_BUNDLE)"
if [ -e "$DIR" ] && [ -n "$(ls -A "$DIR")" ]; then
  fail "$DIR exists and is not empty; give a new directory"
fi
mkdir -p "$DIR"
install -m 0755 "$BINARY" "$DIR/ecs-deploy"
install -m 0644 "$CA_BUNDLE" "$DIR/ca-certificates.crt"
echo "image context $DIR: ecs-deploy ($(wc -c <"$DIR/ecs-deploy") bytes), ca-certificates.crt ($(grep -c 'BEGIN CERTIFICATE' "$DIR/ca-certificates.crt") certificates)"
