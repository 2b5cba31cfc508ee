#!/usr/bin/env bash
# A full deploy of examples/dataspace against a local AWS (moto) that this script starts:
# the first of the README's two commands. Nothing leaves this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
MOTO_SERVER="$(scripts/install-moto.sh)"
PORT="${MOTO_PORT:-5123}"
LOG="$(mktemp)"
MOTO_ECS_SERVICE_RUNNING=1 "$MOTO_SERVER" -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 &
MOTO_PID=$!
trap 'kill $MOTO_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/moto-api/" >/dev/null 2>&1 && break
  sleep 0.1
done
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIDLOCALEXAMPLE AWS_SECRET_ACCESS_KEY=local-example-secret AWS_EC2_METADATA_DISABLED=true
export IMAGE_TAG="${IMAGE_TAG:-$(git rev-parse --short HEAD 2>/dev/null || echo local)}"
ECR_REGISTRY="$("$(dirname "$MOTO_SERVER")/python" scripts/seed-dataspace.py "$AWS_ENDPOINT_URL" "$AWS_REGION" "$IMAGE_TAG")"
export ECR_REGISTRY ECR_REPOSITORY=dataspace ENVIRONMENT=dev DB_NAME=dataspace
export ECS_EXECUTION_ROLE_ARN="arn:aws:iam::123456789012:role/dataspace-dev-ecs-execution"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ecs-deploy/target}"
cargo build --quiet
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
