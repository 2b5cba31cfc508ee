#!/usr/bin/env bash
# Benchmark of the DataSpace example's deploys against moto (started and seeded by
# scripts/local-aws.sh): day one, unchanged, a new image: wall time, peak memory (RSS), and AWS API calls by operation, counted
# by a proxy in front of moto. Prints figures; it asserts nothing (targets are in the README).
# Usage: benches/deploy.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=debug
if [ "${1:-}" = "--release" ]; then PROFILE=release; fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ecs-deploy/target}"
if [ -z "${LOCAL_AWS_PID:-}" ]; then
  if [ -z "${ECS_DEPLOY_BIN:-}" ]; then
    if [ "$PROFILE" = release ]; then cargo build --quiet --release; else cargo build --quiet; fi
    export ECS_DEPLOY_BIN="$CARGO_TARGET_DIR/$PROFILE/ecs-deploy"
  fi
  IMAGE_TAG=bench1 exec scripts/local-aws.sh "$0" "$@" # runs this script again inside the local AWS
fi
BIN="$ECS_DEPLOY_BIN"
PY="$LOCAL_AWS_PYTHON"
. scripts/example-inputs.sh
WORK="$(mktemp -d)"
"$PY" benches/count_proxy.py "$AWS_ENDPOINT_URL" 0 "$WORK/counts.json" "$WORK/proxy-port" &
PROXY_PID=$!
trap 'kill $PROXY_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do [ -s "$WORK/proxy-port" ] && break; sleep 0.1; done
[ -s "$WORK/proxy-port" ] || { echo "the counting proxy did not start" >&2; exit 1; }
export AWS_ENDPOINT_URL="http://127.0.0.1:$(cat "$WORK/proxy-port")"
run() {
  if [ -f "$WORK/counts.json" ]; then cp "$WORK/counts.json" "$WORK/before.json"; else echo '{}' >"$WORK/before.json"; fi
  ( cd examples/dataspace && IMAGE_TAG="${2:-$IMAGE_TAG}" /usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN" deploy \
      "${EXAMPLE_ARGS[@]}" --poll-interval-seconds 1 >"$WORK/out.log" 2>&1 ) || { cat "$WORK/out.log"; exit 1; }
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
run "first deploy (day one: stack created, 2 services created)"
run "second deploy (unchanged)"
run "third deploy (a new image: 2 services change)" v1
