#!/usr/bin/env bash
# Benchmark of the two-service DataSpace deploy against moto: wall time, peak memory (RSS),
# and AWS API calls by operation, counted by a proxy in front of moto. Prints figures; it
# asserts nothing (targets are in the README). Usage: bench/deploy.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=debug
if [ "${1:-}" = "--release" ]; then PROFILE=release; fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ecs-deploy/target}"
BIN="${ECS_DEPLOY_BIN:-}"
if [ -z "$BIN" ]; then
  if [ "$PROFILE" = release ]; then cargo build --quiet --release; else cargo build --quiet; fi
  BIN="$CARGO_TARGET_DIR/$PROFILE/ecs-deploy"
fi
MOTO_SERVER="$(scripts/install-moto.sh)"
PY="$(dirname "$MOTO_SERVER")/python"
MOTO_PORT=5171 PROXY_PORT=5172
WORK="$(mktemp -d)"
MOTO_ECS_SERVICE_RUNNING=1 "$MOTO_SERVER" -H 127.0.0.1 -p $MOTO_PORT >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
"$PY" bench/count_proxy.py "http://127.0.0.1:$MOTO_PORT" $PROXY_PORT "$WORK/counts.json" &
PROXY_PID=$!
trap 'kill $MOTO_PID $PROXY_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$MOTO_PORT/moto-api/" >/dev/null 2>&1 && break; sleep 0.1; done
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=AKIDBENCH AWS_SECRET_ACCESS_KEY=bench-secret AWS_EC2_METADATA_DISABLED=true
export IMAGE_TAG=bench1
ECR_REGISTRY="$("$PY" scripts/seed-dataspace.py "http://127.0.0.1:$MOTO_PORT" us-east-1 "$IMAGE_TAG")"
export ECR_REGISTRY ECR_REPOSITORY=dataspace ENVIRONMENT=dev DB_NAME=dataspace
export ECS_EXECUTION_ROLE_ARN="arn:aws:iam::123456789012:role/dataspace-dev-ecs-execution"
export AWS_ENDPOINT_URL="http://127.0.0.1:$PROXY_PORT"
run() {
  if [ -f "$WORK/counts.json" ]; then cp "$WORK/counts.json" "$WORK/before.json"; else echo '{}' >"$WORK/before.json"; fi
  ( cd examples/dataspace && /usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN" deploy \
      --cluster dataspace-dev \
      --service dataspace-app --task-definition aws/task-definition.json \
      --otel-service dataspace-otel --otel-task-definition aws/otel-collector-task-definition.json \
      --poll-interval-seconds 1 >"$WORK/out.log" 2>&1 ) || { cat "$WORK/out.log"; exit 1; }
  read -r wall rss <"$WORK/time"
  echo "$1: wall ${wall}s, peak RSS $((rss / 1024)) MB ($rss KiB), $(grep -o 'result: [a-z-]*' "$WORK/out.log")"
  "$PY" - "$WORK/counts.json" "$WORK/before.json" <<'PY'
import json, sys
after, before = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
c = {op: n - before.get(op, 0) for op, n in after.items() if n - before.get(op, 0) > 0}
polling = {"DescribeServices"}
total = sum(c.values())
for op, n in sorted(c.items()):
    print(f"  {op:28s} {n}")
non_polling = sum(n for op, n in c.items() if op not in polling) + min(c.get("DescribeServices", 0), 1)
checks = sum(c.get(op, 0) for op in ("DescribeImages", "DescribeParameters", "DescribeLogGroups", "GetRole"))
print(f"  total {total}; non-polling {non_polling}, of which {checks} by the default-on checks (verify-images, verify); core {non_polling - checks} (target for 2 services: <= 4*2+2 = 10; the preflight DescribeServices counts as non-polling)")
PY
}
echo "binary: $BIN ($PROFILE, $(du -h "$BIN" | cut -f1))"
run "first deploy (2 services change)"
run "second deploy (unchanged)"
