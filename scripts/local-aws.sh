#!/usr/bin/env bash
# The local AWS of the example, the benchmark and CI, in one place: installs the pinned moto
# (scripts/install-moto.sh), starts moto_server on 127.0.0.1, waits until it answers, and
# seeds what the DataSpace example expects to exist (scripts/seed-dataspace.py).
#
#   scripts/local-aws.sh [--] COMMAND [ARG...]
#       runs COMMAND with the environment below, stops moto afterwards, exits with COMMAND's status
#   scripts/local-aws.sh
#       leaves moto running and prints the environment as KEY=value lines, for
#       `set -a; eval "$(scripts/local-aws.sh)"; set +a` or `>> "$GITHUB_ENV"`; stop it with
#       `kill "$LOCAL_AWS_PID"`
#
# Settings (environment): MOTO_PORT (default: a free port), IMAGE_TAG (the image tag seeded and
# deployed; default: the short commit), MOTO_ECS_SERVICE_RUNNING (default 2, the example app's desired count: services come up
# running and their rollouts COMPLETED).
# Environment given: AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
# AWS_EC2_METADATA_DISABLED, MOTO_PORT, LOCAL_AWS_PID (moto's process), LOCAL_AWS_PYTHON (the
# venv's python, with boto3), and the example's variables IMAGE_TAG, ECR_REGISTRY,
# ECR_REPOSITORY, ENVIRONMENT, DB_NAME, VPC_ID, SUBNET_IDS. What exists: the images and the
# app's SecureString parameters (scripts/seed-dataspace.py); the rest is day one's to make.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ "${1:-}" = "--" ]; then shift; fi
MOTO_SERVER="$("$ROOT/scripts/install-moto.sh")"
PY="$(dirname "$MOTO_SERVER")/python"
LOG="$(mktemp "${TMPDIR:-/tmp}/local-aws.XXXXXX")"
MOTO_PID=""
stop_moto() {
  if [ -n "$MOTO_PID" ]; then
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
    MOTO_PID=""
  fi
}
trap stop_moto EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# scripts/moto-launch.py binds the port itself (0: the kernel picks one, so no other process
# can take it between choosing and binding) and writes it to the file named first.
PORT_FILE="$LOG.port"
MOTO_ECS_SERVICE_RUNNING="${MOTO_ECS_SERVICE_RUNNING:-2}" "$PY" "$ROOT/scripts/moto-launch.py" "$PORT_FILE" "${MOTO_PORT:-0}" >"$LOG" 2>&1 &
MOTO_PID=$!
fail() {
  echo "local-aws: $1" >&2
  cat "$LOG" >&2
  exit 1
}
for _ in $(seq 1 200); do
  [ -s "$PORT_FILE" ] && break
  kill -0 "$MOTO_PID" 2>/dev/null || fail "moto did not start on 127.0.0.1:${MOTO_PORT:-0} (is the port taken? set MOTO_PORT to a free one, or leave it unset):"
  sleep 0.1
done
[ -s "$PORT_FILE" ] || fail "moto did not bind a port within 20 s:"
MOTO_PORT="$(cat "$PORT_FILE")"
rm -f "$PORT_FILE"
for _ in $(seq 1 200); do
  curl -fsS "http://127.0.0.1:$MOTO_PORT/moto-api/" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$MOTO_PORT/moto-api/" >/dev/null 2>&1 || fail "moto on port $MOTO_PORT did not answer within 20 s:"

export MOTO_PORT LOCAL_AWS_PID="$MOTO_PID" LOCAL_AWS_PYTHON="$PY"
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIDLOCALEXAMPLE AWS_SECRET_ACCESS_KEY=local-example-secret AWS_EC2_METADATA_DISABLED=true
export IMAGE_TAG="${IMAGE_TAG:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo local)}"
SEEDED="$("$PY" "$ROOT/scripts/seed-dataspace.py" "$AWS_ENDPOINT_URL" "$AWS_REGION" "$IMAGE_TAG")" ||
  fail "seeding the DataSpace example failed; moto's log:"
ECR_REGISTRY="$(sed -n 's/^ECR_REGISTRY=//p' <<<"$SEEDED")"
VPC_ID="$(sed -n 's/^VPC_ID=//p' <<<"$SEEDED")"
SUBNET_IDS="$(sed -n 's/^SUBNET_IDS=//p' <<<"$SEEDED")"
export ECR_REGISTRY VPC_ID SUBNET_IDS ECR_REPOSITORY=dataspace ENVIRONMENT=dev DB_NAME=dataspace

if [ "$#" -eq 0 ]; then
  for k in AWS_ENDPOINT_URL AWS_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_EC2_METADATA_DISABLED \
    MOTO_PORT LOCAL_AWS_PID LOCAL_AWS_PYTHON IMAGE_TAG ECR_REGISTRY ECR_REPOSITORY ENVIRONMENT DB_NAME \
    VPC_ID SUBNET_IDS; do
    echo "$k=${!k}"
  done
  echo "local-aws: moto runs on $AWS_ENDPOINT_URL (pid $MOTO_PID, log $LOG); stop it with: kill $MOTO_PID" >&2
  MOTO_PID="" # left running
  exit 0
fi
status=0
"$@" || status=$?
rm -f "$LOG"
exit "$status"
