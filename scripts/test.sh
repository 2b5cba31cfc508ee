#!/usr/bin/env bash
# Runs every test: unit tests and the integration tests against a local moto server, which
# this script installs itself (the second of the README's two commands).
set -euo pipefail
cd "$(dirname "$0")/.."
export ECS_DEPLOY_MOTO_SERVER="$(scripts/install-moto.sh)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ecs-deploy/target}"
cargo test --all-targets "$@"
