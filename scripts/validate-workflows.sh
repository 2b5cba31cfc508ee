#!/usr/bin/env bash
# Validates action.yml and every GitHub workflow file in the repository (examples included)
# against the JSON schemas that ship inside check-jsonschema (`--builtin-schema vendor.*`), so
# nothing is fetched at check time; only the install reaches PyPI. Installs the pinned checker
# into a venv outside the clone, reused by warm runs.
set -euo pipefail
cd "$(dirname "$0")/.."
CHECK_JSONSCHEMA_VERSION="0.39.0"
VENV="${ECS_DEPLOY_TOOLS_VENV:-$HOME/.cache/ecs-deploy/venv-tools}"
if [ ! -x "$VENV/bin/check-jsonschema" ] ||
  [ "$("$VENV/bin/check-jsonschema" --version 2>/dev/null | awk '{print $NF}')" != "$CHECK_JSONSCHEMA_VERSION" ]; then
  echo "installing check-jsonschema==$CHECK_JSONSCHEMA_VERSION into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "check-jsonschema==$CHECK_JSONSCHEMA_VERSION" >&2
fi
CHECK="$VENV/bin/check-jsonschema"

"$CHECK" --builtin-schema vendor.github-actions action.yml

# Every workflow: the repository's own and the examples' (`*/.github/workflows/*.yml`).
mapfile -t workflows < <(find . -path ./target -prune -o -path ./.git -prune -o \
  -path '*/.github/workflows/*' -type f \( -name '*.yml' -o -name '*.yaml' \) -print | sort)
if [ "${#workflows[@]}" -eq 0 ]; then
  echo "error: no workflow files found under */.github/workflows/" >&2
  exit 1
fi
"$CHECK" --builtin-schema vendor.github-workflows "${workflows[@]}"
echo "validated action.yml and ${#workflows[@]} workflow file(s)"
