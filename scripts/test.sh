#!/usr/bin/env bash
# Runs every test: unit tests and the integration tests against a local moto server, which
# this script installs itself (the second of the README's two commands).
set -euo pipefail
cd "$(dirname "$0")/.."
export ECS_DEPLOY_MOTO_SERVER="$(scripts/install-moto.sh)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ecs-deploy/target}"
rm -f "$CARGO_TARGET_DIR/tmp/bad-input-cases"
# Benchmarks (benches/) print figures and are run with `cargo bench`, not here.
cargo test --lib --bins --tests "$@"
# The size of the hostile-conditions suite (issue 8), when the whole suite ran.
if [ -f "$CARGO_TARGET_DIR/tmp/bad-input-cases" ]; then
  faults=$(cargo test --quiet --test it -- --list 2>/dev/null | grep -cE '^(faults|rollout|ways|trust)::.*: test$' || true)
  echo "hostile conditions: $(cat "$CARGO_TARGET_DIR/tmp/bad-input-cases") bad-input cases, $faults fault scenarios (faults::, rollout::, ways::, trust::)"
fi
