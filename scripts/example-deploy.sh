#!/usr/bin/env bash
# A full deploy of examples/dataspace against a local AWS (moto, started by scripts/local-aws.sh
# with only the images and the app's secrets in it): the first of the README's two commands.
# Day one: the stack makes the cluster, role, log group and database, then both services are
# created from their definitions; the second run is "unchanged". Nothing leaves this machine.
# MOTO_PORT picks moto's port (default: a free one); arguments go to both deploys.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ecs-deploy/target}"
if [ -z "${LOCAL_AWS_PID:-}" ]; then
  cargo build --quiet
  exec scripts/local-aws.sh "$0" "$@" # runs this script again inside the local AWS
fi
BIN="$CARGO_TARGET_DIR/debug/ecs-deploy"
. scripts/example-inputs.sh
cd examples/dataspace
deploy() {
  "$BIN" deploy "${EXAMPLE_ARGS[@]}" --poll-interval-seconds 1 --wait-for-minutes 2 "$@"
}
echo "### first deploy, day one: the stack makes the cluster, then both services are created"
deploy "$@"
echo "### second deploy of the same commit: nothing to do"
deploy "$@"
