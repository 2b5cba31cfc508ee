#!/usr/bin/env bash
# A full deploy of examples/dataspace against a local AWS (moto, started and seeded by
# scripts/local-aws.sh): the first of the README's two commands. Nothing leaves this machine.
# MOTO_PORT picks moto's port (default: a free one); arguments go to both deploys.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ecs-deploy/target}"
if [ -z "${LOCAL_AWS_PID:-}" ]; then
  cargo build --quiet
  exec scripts/local-aws.sh "$0" "$@" # runs this script again inside the local AWS
fi
BIN="$CARGO_TARGET_DIR/debug/ecs-deploy"
cd examples/dataspace
deploy() {
  "$BIN" deploy \
    --cluster dataspace-dev \
    --service dataspace-app --task-definition aws/task-definition.json \
    --otel-service dataspace-otel --otel-task-definition aws/otel-collector-task-definition.json \
    --poll-interval-seconds 1 --wait-for-minutes 2 "$@"
}
echo "### first deploy: both services get a new revision"
deploy "$@"
echo "### second deploy of the same commit: nothing to do"
deploy "$@"
