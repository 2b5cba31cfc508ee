#!/usr/bin/env bash
# The action's image, proven: builds a static binary and the image from Dockerfile (the same
# definition the release uses), then runs the image exactly as GitHub's runner runs a container
# action, against a local AWS (moto, scripts/local-aws.sh), and checks what a user would see.
#
#   scripts/image-smoke.sh [--release | --binary PATH] [--engine podman|docker]
#
#   (default)       a debug static build of this machine (`-C target-feature=+crt-static`, no
#                   debug info): enough for behaviour; its size is printed, not budgeted
#   --release       the release profile, static: the size budget (20 MB) is checked
#                   (benches/image.sh runs this)
#   --binary PATH   put this static binary in the image and build nothing (CI on GitHub gives
#                   the musl build of scripts/build-musl.sh); the size budget is checked
#   --engine        podman (default; installed with runc from Debian's packages when missing)
#                   or docker (GitHub's runners, which have a Docker engine)
#
# How the runner runs a container action (actions/runner, ContainerActionHandler): `docker run
# --workdir /github/workspace --rm`, every input of action.yml as INPUT_<NAME> (upper case,
# hyphens kept; an input not given has its default, or ""), the GITHUB_* and RUNNER_*
# variables, HOME=/github/home, and these mounts of the runner's temp directory (RUNNER_TEMP,
# itself not mounted: the variable keeps the host's path):
#     _temp/_github_home          -> /github/home
#     _temp/_github_workflow      -> /github/workflow        (event.json: GITHUB_EVENT_PATH)
#     _temp/_runner_file_commands -> /github/file_commands   (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY,
#                                                             GITHUB_ENV, GITHUB_PATH, GITHUB_STATE)
#     the checkout                -> /github/workspace
# The variables are passed as `-e NAME` with the values in the engine's own environment, as the
# runner does. `--network host` reaches moto on 127.0.0.1; the step's `env:` is the DataSpace
# example's (scripts/example-inputs.sh) with the local AWS's credentials and endpoint.
#
# Checks: the image holds exactly the binary and the CA bundle (no shell), its entrypoint;
# `--version`; a DataSpace deploy on day one succeeds (outputs parsed the way the runner parses
# GITHUB_OUTPUT: `name=value` or `name<<DELIMITER` heredocs; result deployed; moto runs the
# revisions the outputs name; the step summary written), the same deploy again is unchanged; a
# bad input exits 2 from the container, the same code as the binary outside it, with a message
# naming the input; no token reaches the log; the image's size (printed; under 20 MB for
# release builds).
#
# podman on this project's machines (no Docker engine): `--storage-driver vfs --runtime runc
# --cgroup-manager cgroupfs` (crun refuses this machine's cgroup setup; overlay mounts are not
# available), a storage directory of this run's own (deleted afterwards), and
# /etc/containers/containers.conf with `default_ulimits = []` (written when there is none): as
# root podman raises RLIMIT_NOFILE and RLIMIT_NPROC to the kernel's maximum, which a sandbox
# with a lower hard limit refuses ("error setting rlimit type 7: operation not permitted").
#
# Environment: CARGO_TARGET_DIR (default ~/.cache/ecs-deploy/target), IMAGE_SMOKE_KEEP=1 keeps
# the work directory (logs, outputs, summary) after a successful run.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ecs-deploy/target}"
export CARGO_TERM_COLOR=never

PROFILE=debug
BINARY=""
ENGINE=podman
while [ "$#" -gt 0 ]; do
  case "$1" in
    --release) PROFILE=release ;;
    --binary)
      [ "$#" -ge 2 ] || { echo "image-smoke: --binary needs a path" >&2; exit 2; }
      BINARY="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
      PROFILE=given
      shift
      ;;
    --engine)
      [ "$#" -ge 2 ] || { echo "image-smoke: --engine needs podman or docker" >&2; exit 2; }
      ENGINE="$2"
      shift
      ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "image-smoke: unknown argument '$1' (see --help)" >&2
      exit 2
      ;;
  esac
  shift
done
case "$ENGINE" in podman | docker) ;; *)
  echo "image-smoke: --engine must be podman or docker, not '$ENGINE'" >&2
  exit 2
  ;;
esac

BUDGET=20000000 # bytes: the image's size budget (20 MB), for release builds
TAG="localhost/ecs-deploy:smoke"
START=$SECONDS
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ecs-deploy-image-smoke.XXXXXX")"
LOCAL_AWS_PID=""
OK=""
TLS_PID=""
cleanup() {
  if [ -n "$TLS_PID" ]; then kill "$TLS_PID" 2>/dev/null || true; fi
  if [ -n "$LOCAL_AWS_PID" ]; then
    kill "$LOCAL_AWS_PID" 2>/dev/null || true
    wait "$LOCAL_AWS_PID" 2>/dev/null || true
  fi
  if [ "$ENGINE" = docker ]; then docker rmi -f "$TAG" >/dev/null 2>&1 || true; fi
  if [ -n "$OK" ] && [ -z "${IMAGE_SMOKE_KEEP:-}" ]; then
    rm -rf "$WORK"
  else
    echo "image-smoke: logs, outputs and summaries are in $WORK" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

phase() { echo "--- [$((SECONDS - START))s] $*"; }
fail() {
  echo "image-smoke: FAILED: $1" >&2
  [ -z "${2:-}" ] || { echo "--- $2" >&2; cat "$2" >&2; }
  exit 1
}

# --- the engine ------------------------------------------------------------------------------
if [ "$ENGINE" = podman ]; then
  ENGINE_CMD=(podman --root "$WORK/storage" --runroot "$WORK/run"
    --storage-driver vfs --runtime runc --cgroup-manager cgroupfs)
else
  ENGINE_CMD=(docker)
fi
engine() { "${ENGINE_CMD[@]}" "$@"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
if [ "$ENGINE" = podman ]; then
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || missing+=(runc)
fi
command -v readelf >/dev/null || missing+=(binutils)
command -v openssl >/dev/null || missing+=(openssl)
[ -s /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
if [ "${#missing[@]}" -gt 0 ]; then
  phase "installing ${missing[*]} (Debian's packages)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "$ENGINE" = podman ] && [ ! -e /etc/containers/containers.conf ]; then
  phase "writing /etc/containers/containers.conf (default_ulimits = [])"
  as_root mkdir -p /etc/containers
  printf '%s\n' "# Written by ecs-deploy's scripts/image-smoke.sh: containers inherit podman's own limits" \
    "# instead of raising RLIMIT_NOFILE/RLIMIT_NPROC, which a sandbox may refuse." \
    "[containers]" "default_ulimits = []" | as_root tee /etc/containers/containers.conf >/dev/null
elif [ "$ENGINE" = podman ] && ! grep -q '^[[:space:]]*default_ulimits' /etc/containers/containers.conf; then
  echo "image-smoke: /etc/containers/containers.conf sets no default_ulimits; should podman fail with" \
    "'error setting rlimit ... operation not permitted', add 'default_ulimits = []' under [containers]" >&2
fi
"$ENGINE" --version

# --- the binary ------------------------------------------------------------------------------
if [ -z "$BINARY" ]; then
  HOST="$(rustc -vV | sed -n 's/^host: //p')"
  # With --target, RUSTFLAGS reach only the target's crates, not build scripts and proc macros
  # (which must stay dynamic). Debug info is left out: it would make a 700 MB binary.
  if [ "$PROFILE" = release ]; then
    phase "static release build for $HOST"
    RUSTFLAGS='-C target-feature=+crt-static' cargo build --quiet --locked --release \
      --target "$HOST" --bin ecs-deploy
  else
    phase "static debug build for $HOST"
    RUSTFLAGS='-C target-feature=+crt-static' CARGO_PROFILE_DEV_DEBUG=0 \
      CARGO_PROFILE_DEV_STRIP=debuginfo cargo build --quiet --locked \
      --target "$HOST" --bin ecs-deploy
  fi
  BINARY="$CARGO_TARGET_DIR/$HOST/$PROFILE/ecs-deploy"
fi

# --- the image -------------------------------------------------------------------------------
phase "image from Dockerfile ($ENGINE)"
scripts/image-context.sh "$BINARY" "$WORK/context"
engine build --quiet --tag "$TAG" --file Dockerfile "$WORK/context" >/dev/null
SIZE="$(engine image inspect --format '{{.Size}}' "$TAG")"
entrypoint="$(engine image inspect --format '{{json .Config.Entrypoint}}' "$TAG")"
[ "$entrypoint" = '["/ecs-deploy"]' ] || fail "the entrypoint is $entrypoint, expected [\"/ecs-deploy\"]"
user="$(engine image inspect --format '{{.Config.User}}' "$TAG")"
[ -z "$user" ] || fail "the image sets USER $user: GitHub runs container actions as root"
cid="$(engine create "$TAG")"
engine export "$cid" | tar -t | grep -v '/$' | sort >"$WORK/files"
engine rm "$cid" >/dev/null
printf '%s\n' ecs-deploy etc/ssl/certs/ca-certificates.crt >"$WORK/files.expected"
diff -u "$WORK/files.expected" "$WORK/files" >"$WORK/files.diff" ||
  fail "the image holds other files than the binary and the CA bundle (no shell, nothing else):" "$WORK/files.diff"
if engine run --rm --entrypoint /bin/sh "$TAG" -c true >/dev/null 2>&1; then
  fail "the image runs /bin/sh: it must have no shell"
fi
version="$(engine run --rm "$TAG" --version)"
expected="ecs-deploy $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
[ "$version" = "$expected" ] || fail "--version in the container printed '$version', expected '$expected'"
echo "image $TAG: $SIZE bytes ($(awk -v s="$SIZE" 'BEGIN { printf "%.1f", s / 1000000 }') MB), files: ecs-deploy, etc/ssl/certs/ca-certificates.crt; $version"

# --- the local AWS ---------------------------------------------------------------------------
phase "local AWS (scripts/local-aws.sh: moto, seeded for DataSpace's day one)"
set -a
eval "$(TMPDIR="$WORK" scripts/local-aws.sh)" # its log goes into WORK
set +a
# The inputs the example's workflow gives, as the runner gets them from `with:`.
. scripts/example-inputs.sh
declare -A GIVEN=()
for ((i = 0; i < ${#EXAMPLE_ARGS[@]}; i += 2)); do
  GIVEN["${EXAMPLE_ARGS[i]#--}"]="${EXAMPLE_ARGS[i + 1]}"
done
GIVEN[poll-interval-seconds]=1
GIVEN[wait-for-minutes]=2
GIVEN[comment-on-pr]=false # no GitHub API here; tests/it/github.rs covers the comment

# --- the runner's layout and environment -----------------------------------------------------
RUNNER_TEMP="$WORK/runner/work/_temp"
RUNNER_WORKSPACE="$WORK/runner/work/dataspace"
WORKSPACE="$RUNNER_WORKSPACE/dataspace"
mkdir -p "$RUNNER_TEMP/_github_home" "$RUNNER_TEMP/_github_workflow" "$RUNNER_TEMP/_runner_file_commands" "$RUNNER_WORKSPACE"
cp -r examples/dataspace "$WORKSPACE" # the checkout of the app's repository
case "$(uname -m)" in aarch64) RUNNER_ARCH=ARM64 ;; *) RUNNER_ARCH=X64 ;; esac
SHA="$(git rev-parse HEAD 2>/dev/null || echo 0000000000000000000000000000000000000000)"
printf '{"ref":"refs/heads/dev","before":"%s","after":"%s","repository":{"full_name":"ecs-deploy/dataspace","name":"dataspace","owner":{"login":"ecs-deploy"}},"pusher":{"name":"smoke"}}\n' \
  "$SHA" "$SHA" >"$RUNNER_TEMP/_github_workflow/event.json"
CANARY="ghs_imageSmokeCanary$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" # a token that must never be printed

# Every input of action.yml with its default ("" when it has none), as the runner sets them.
declare -A DEFAULTS=()
while IFS=$'\t' read -r name value; do DEFAULTS["$name"]="$value"; done < <(awk '
  /^inputs:/ { inside = 1; next }
  inside && /^[^ #]/ { inside = 0 }
  inside && /^  [a-z0-9-]+:/ { if (name != "") print name "\t" def; name = $1; sub(/:$/, "", name); def = "" }
  inside && /^    default:/ { def = $0; sub(/^    default: */, "", def); gsub(/^"|"$/, "", def) }
  END { if (name != "") print name "\t" def }' action.yml)
[ "${#DEFAULTS[@]}" -gt 10 ] || fail "read only ${#DEFAULTS[@]} inputs from action.yml"

# run_action LABEL [input=value...]: one step of the action, in a fresh set of file commands.
# Sets CODE, LOG, OUTPUT_FILE, SUMMARY_FILE. RUN_ENDPOINT overrides AWS_ENDPOINT_URL, RUN_MOUNTS
# adds engine arguments.
RUN_ENDPOINT=""
RUN_MOUNTS=()
run_action() {
  local label="$1"
  shift
  local -A inputs=()
  local name
  for name in "${!DEFAULTS[@]}"; do inputs["$name"]="${DEFAULTS[$name]}"; done
  for name in "${!GIVEN[@]}"; do inputs["$name"]="${GIVEN[$name]}"; done
  local kv
  for kv in "$@"; do inputs["${kv%%=*}"]="${kv#*=}"; done
  for name in "${!inputs[@]}"; do
    [ -n "${DEFAULTS[$name]+set}" ] || fail "$label: input '$name' is not declared in action.yml"
  done
  [ "${inputs[github-token]}" = '${{ github.token }}' ] && inputs[github-token]="$CANARY"

  local id
  id="$(cat /proc/sys/kernel/random/uuid)"
  local files="$RUNNER_TEMP/_runner_file_commands"
  for kv in set_output set_env add_path save_state step_summary; do : >"$files/${kv}_$id"; done
  OUTPUT_FILE="$files/set_output_$id"
  SUMMARY_FILE="$files/step_summary_$id"
  LOG="$WORK/$label.log"

  local vars=(
    HOME=/github/home CI=true GITHUB_ACTIONS=true
    GITHUB_WORKSPACE=/github/workspace GITHUB_EVENT_PATH=/github/workflow/event.json
    GITHUB_OUTPUT="/github/file_commands/set_output_$id"
    GITHUB_STEP_SUMMARY="/github/file_commands/step_summary_$id"
    GITHUB_ENV="/github/file_commands/set_env_$id" GITHUB_PATH="/github/file_commands/add_path_$id"
    GITHUB_STATE="/github/file_commands/save_state_$id"
    GITHUB_EVENT_NAME=push GITHUB_REF=refs/heads/dev GITHUB_REF_NAME=dev GITHUB_REF_TYPE=branch
    GITHUB_REF_PROTECTED=false GITHUB_SHA="$SHA" GITHUB_REPOSITORY=ecs-deploy/dataspace
    GITHUB_REPOSITORY_OWNER=ecs-deploy GITHUB_RUN_ID=4242 GITHUB_RUN_NUMBER=7 GITHUB_RUN_ATTEMPT=1
    GITHUB_ACTOR=smoke GITHUB_TRIGGERING_ACTOR=smoke GITHUB_WORKFLOW=deploy GITHUB_JOB=deploy
    GITHUB_ACTION=__ecs-deploy_ecs-deploy GITHUB_ACTION_REPOSITORY=ecs-deploy/ecs-deploy GITHUB_ACTION_REF=v0
    GITHUB_HEAD_REF= GITHUB_BASE_REF= GITHUB_RETENTION_DAYS=90
    GITHUB_SERVER_URL=https://github.com GITHUB_API_URL=https://api.github.com
    GITHUB_GRAPHQL_URL=https://api.github.com/graphql
    RUNNER_OS=Linux RUNNER_ARCH="$RUNNER_ARCH" RUNNER_NAME="GitHub Actions 1" RUNNER_ENVIRONMENT=github-hosted
    RUNNER_TOOL_CACHE=/opt/hostedtoolcache RUNNER_TEMP="$RUNNER_TEMP" RUNNER_WORKSPACE="$RUNNER_WORKSPACE"
    ACTIONS_RUNTIME_URL=https://pipelines.actions.githubusercontent.com/smoke/ ACTIONS_RUNTIME_TOKEN="$CANARY"
    # the step's env: (the example's, and what configure-aws-credentials exports; here moto's)
    AWS_REGION="$AWS_REGION" AWS_DEFAULT_REGION="$AWS_REGION" AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID"
    AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" AWS_ENDPOINT_URL="${RUN_ENDPOINT:-$AWS_ENDPOINT_URL}"
    AWS_EC2_METADATA_DISABLED=true ECR_REGISTRY="$ECR_REGISTRY" ECR_REPOSITORY="$ECR_REPOSITORY"
    IMAGE_TAG="$IMAGE_TAG" ENVIRONMENT="$ENVIRONMENT" DB_NAME="$DB_NAME"
  )
  for name in "${!inputs[@]}"; do vars+=("INPUT_${name^^}=${inputs[$name]}"); done
  local flags=() v docker_sock=()
  [ -S /var/run/docker.sock ] && docker_sock=(-v /var/run/docker.sock:/var/run/docker.sock)
  for v in "${vars[@]}"; do flags+=(-e "${v%%=*}"); done

  # As the runner: the values in the engine's environment, only the names on its command line.
  set +e
  env "${vars[@]}" "${ENGINE_CMD[@]}" run --rm --workdir /github/workspace --network host \
    "${docker_sock[@]}" "${RUN_MOUNTS[@]}" \
    -v "$RUNNER_TEMP/_github_home:/github/home" \
    -v "$RUNNER_TEMP/_github_workflow:/github/workflow" \
    -v "$RUNNER_TEMP/_runner_file_commands:/github/file_commands" \
    -v "$WORKSPACE:/github/workspace" \
    "${flags[@]}" "$TAG" >"$LOG" 2>&1
  CODE=$?
  set -e
  if grep -qF "$CANARY" "$LOG" "$OUTPUT_FILE" "$SUMMARY_FILE"; then
    fail "$label: a token was printed (log, outputs or summary)" "$LOG"
  fi
}

# parse_outputs FILE: the outputs as the runner reads GITHUB_OUTPUT, into OUT. Each entry is
# `name=value` or `name<<DELIMITER`, the value's lines, and a line equal to DELIMITER; empty
# lines between entries are skipped; anything else, or a heredoc never closed, is an error
# that fails the step on GitHub.
declare -A OUT=()
parse_outputs() {
  OUT=()
  local line name delimiter value eq hd first closed
  exec 3<"$1"
  while IFS= read -r line <&3 || [ -n "$line" ]; do
    [ -n "$line" ] || continue
    eq=-1 hd=-1
    [[ "$line" == *=* ]] && { value="${line%%=*}"; eq=${#value}; }
    [[ "$line" == *"<<"* ]] && { value="${line%%<<*}"; hd=${#value}; }
    if [ "$eq" -ge 0 ] && { [ "$hd" -lt 0 ] || [ "$eq" -lt "$hd" ]; }; then
      name="${line:0:eq}"
      value="${line:eq+1}"
    elif [ "$hd" -ge 0 ]; then
      name="${line:0:hd}"
      delimiter="${line:hd+2}"
      [ -n "$delimiter" ] || { exec 3<&-; fail "GITHUB_OUTPUT: '$line' has no delimiter" "$1"; }
      value="" first=1 closed=""
      while IFS= read -r line <&3; do
        if [ "$line" = "$delimiter" ]; then closed=1; break; fi
        if [ -n "$first" ]; then value="$line"; first=""; else value+=$'\n'"$line"; fi
      done
      [ -n "$closed" ] || { exec 3<&-; fail "GITHUB_OUTPUT: no line '$delimiter' closes output '$name' (the runner fails the step: Matching delimiter not found)" "$1"; }
    else
      exec 3<&-
      fail "GITHUB_OUTPUT: invalid line '$line' (the runner fails the step: Invalid format)" "$1"
    fi
    [ -n "$name" ] || { exec 3<&-; fail "GITHUB_OUTPUT: an output without a name" "$1"; }
    OUT["$name"]="$value"
  done
  exec 3<&-
}

# --- day one: the stack, then both services created from their definitions -------------------
phase "day one: the image deploys DataSpace (stack, app, collector) as the runner runs it"
run_action day-one
[ "$CODE" = 0 ] || fail "day one: the container exited $CODE, expected 0" "$LOG"
parse_outputs "$OUTPUT_FILE"
[ "${OUT[result]:-}" = deployed ] || fail "day one: output result is '${OUT[result]:-}', expected deployed" "$OUTPUT_FILE"
[ "${OUT[stack-deployed]:-}" = true ] || fail "day one: output stack-deployed is '${OUT[stack-deployed]:-}', expected true" "$OUTPUT_FILE"
for name in task-definition-arn otel-task-definition-arn task-definition-arns changed-services services-revisions stack-outputs; do
  [ -n "${OUT[$name]:-}" ] || fail "day one: output $name is empty" "$OUTPUT_FILE"
done
grep -q 'dataspace-app' "$SUMMARY_FILE" || fail "day one: the step summary does not name dataspace-app" "$SUMMARY_FILE"
# What moto runs is what the outputs say.
"$LOCAL_AWS_PYTHON" - "${OUT[task-definition-arns]}" "${OUT[changed-services]}" >"$WORK/moto-check.log" 2>&1 <<'PY' ||
import json, os, sys, boto3
arns, changed = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert sorted(changed) == ["dataspace-app", "dataspace-otel"], f"changed-services: {changed}"
ecs = boto3.client("ecs", region_name=os.environ["AWS_REGION"], endpoint_url=os.environ["AWS_ENDPOINT_URL"])
live = {s["serviceName"]: s["taskDefinition"]
        for s in ecs.describe_services(cluster="dataspace-dev", services=sorted(arns))["services"]}
assert live == arns, f"moto runs {live}, the outputs say {arns}"
print("moto runs", live)
PY
  fail "day one: moto does not run what the outputs name" "$WORK/moto-check.log"
echo "result=${OUT[result]} stack-deployed=${OUT[stack-deployed]} changed-services=${OUT[changed-services]}"
echo "task-definition-arn=${OUT[task-definition-arn]}"
echo "step summary: $(wc -c <"$SUMMARY_FILE") bytes, $(grep -c '' "$SUMMARY_FILE") lines"

# --- TLS: the trust store at the image's path is the one used, and it is verified ---------------
# moto speaks plain HTTP; a TLS front (Python's ssl) with a certificate of a CA made here shows
# that the binary in the image verifies the server against /etc/ssl/certs/ca-certificates.crt.
# The image stays as built: the run that trusts the local CA mounts it over that path.
phase "TLS: a front for moto with a certificate of a CA made here"
TLS="$WORK/tls"
mkdir -p "$TLS"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TLS/ca.key" -out "$TLS/ca.pem" -days 2 \
  -subj "/CN=ecs-deploy image smoke CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -keyout "$TLS/server.key" -out "$TLS/server.csr" -subj "/CN=127.0.0.1" >/dev/null 2>&1
printf '%s\n' "subjectAltName=IP:127.0.0.1" "basicConstraints=CA:FALSE" "extendedKeyUsage=serverAuth" >"$TLS/ext"
openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" -CAcreateserial \
  -out "$TLS/server.pem" -days 2 -extfile "$TLS/ext" >/dev/null 2>&1
"$LOCAL_AWS_PYTHON" - "$TLS/server.pem" "$TLS/server.key" "$MOTO_PORT" "$TLS/port" >"$TLS/front.log" 2>&1 <<'PY' &
import os, socket, ssl, sys, threading
cert, key, upstream, port_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(64)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.getsockname()[1]))
os.rename(port_file + ".tmp", port_file)
def pipe(a, b):
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def serve(conn):
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError) as e:
        print("handshake refused:", e, flush=True)
        conn.close()
        return
    up = socket.create_connection(("127.0.0.1", upstream))
    threading.Thread(target=pipe, args=(tls, up), daemon=True).start()
    pipe(up, tls)
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
PY
TLS_PID=$!
for _ in $(seq 1 100); do [ -s "$TLS/port" ] && break; sleep 0.1; done
[ -s "$TLS/port" ] || fail "the TLS front did not start" "$TLS/front.log"
TLS_ENDPOINT="https://127.0.0.1:$(cat "$TLS/port")"

phase "the same deploy again, over TLS, the local CA mounted at the image's CA path: unchanged"
RUN_ENDPOINT="$TLS_ENDPOINT" RUN_MOUNTS=(-v "$TLS/ca.pem:/etc/ssl/certs/ca-certificates.crt:ro")
run_action again
RUN_ENDPOINT="" RUN_MOUNTS=()
[ "$CODE" = 0 ] || fail "second deploy over TLS: the container exited $CODE, expected 0" "$LOG"
parse_outputs "$OUTPUT_FILE"
[ "${OUT[result]:-}" = unchanged ] || fail "second deploy: output result is '${OUT[result]:-}', expected unchanged" "$OUTPUT_FILE"
echo "result=${OUT[result]} (over TLS, the server verified against the mounted CA)"

phase "over TLS with the image's own CA bundle: the unknown CA is refused, exit 1 as from the binary"
RUN_ENDPOINT="$TLS_ENDPOINT"
run_action untrusted mode=plan
RUN_ENDPOINT=""
[ "$CODE" = 1 ] || fail "plan against an untrusted certificate: the container exited $CODE, expected 1" "$LOG"
grep -qi 'certificate\|UnknownIssuer\|tls' "$LOG" || fail "the refusal does not say it is the certificate" "$LOG"
set +e
(cd "$WORKSPACE" && env -u SSL_CERT_FILE -u SSL_CERT_DIR AWS_ENDPOINT_URL="$TLS_ENDPOINT" \
  "$BINARY" plan "${EXAMPLE_ARGS[@]}" >"$WORK/untrusted-host.log" 2>&1)
host_code=$?
set -e
[ "$host_code" = "$CODE" ] || fail "untrusted certificate: the binary outside the container exited $host_code, the container $CODE" "$WORK/untrusted-host.log"
grep -i -m1 'certificate\|UnknownIssuer' "$LOG" | cut -c1-200

# --- bad input: exit 2 from the container, the binary's own code -----------------------------
phase "a bad input: exit 2 from the container, as from the binary"
run_action bad-input wait-for-minutes=soon
[ "$CODE" = 2 ] || fail "bad input: the container exited $CODE, expected 2" "$LOG"
grep -q 'wait-for-minutes' "$LOG" || fail "bad input: the message does not name wait-for-minutes" "$LOG"
set +e
env GITHUB_ACTIONS=true "INPUT_CLUSTER=dataspace-dev" "INPUT_SERVICE=dataspace-app" \
  "INPUT_TASK-DEFINITION=aws/task-definition.json" "INPUT_WAIT-FOR-MINUTES=soon" \
  GITHUB_OUTPUT=/dev/null GITHUB_STEP_SUMMARY=/dev/null \
  sh -c 'cd "$1" && exec "$2"' sh "$WORKSPACE" "$BINARY" >"$WORK/bad-input-host.log" 2>&1
host_code=$?
set -e
[ "$host_code" = "$CODE" ] || fail "bad input: the binary outside the container exited $host_code, the container $CODE" "$WORK/bad-input-host.log"
sed -n '1,3p' "$LOG"

# --- size ------------------------------------------------------------------------------------
phase "size"
mb="$(awk -v s="$SIZE" 'BEGIN { printf "%.1f", s / 1000000 }')"
if [ "$PROFILE" = debug ]; then
  echo "image size: $SIZE bytes ($mb MB), a debug build: the 20 MB budget is for release builds (benches/image.sh)"
else
  echo "image size: $SIZE bytes ($mb MB), budget $BUDGET bytes"
  [ "$SIZE" -lt "$BUDGET" ] || fail "the image is $SIZE bytes, over the 20 MB budget"
fi
OK=1
phase "image smoke test passed ($PROFILE build, $ENGINE)"
