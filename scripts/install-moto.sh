#!/usr/bin/env bash
# Installs the pinned moto server (the local AWS every integration test talks to) into a venv
# outside the clone, so warm runs reuse it. Prints the path of moto_server.
set -euo pipefail
MOTO_VERSION="5.2.5"
VENV="${ECS_DEPLOY_VENV:-$HOME/.cache/ecs-deploy/venv}"
if [ ! -x "$VENV/bin/moto_server" ] || ! "$VENV/bin/python" -c "import moto,sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  echo "installing moto[server]==$MOTO_VERSION into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
fi
echo "$VENV/bin/moto_server"
