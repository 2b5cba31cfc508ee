# The action's image, the one definition of it: an empty (`scratch`) image with the CA bundle,
# the static `ecs-deploy` binary and its entrypoint. No shell, no package manager, nothing else.
#
# It compiles nothing. Its build context is a directory made by scripts/image-context.sh, which
# holds exactly the two files below: a static binary and a PEM CA bundle.
# - Release (.github/workflows/release.yml): the static musl binary of each platform, built on
#   a native runner (linux/amd64, linux/arm64) by scripts/build-musl.sh.
# - Local proof (scripts/image-smoke.sh, run by .ci/run): a static build of this machine
#   (`-C target-feature=+crt-static`), run with podman the way the runner runs the action.
#
# No USER: GitHub runs container actions as root. No WORKDIR: the runner starts the container
# with `--workdir /github/workspace`.
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY ecs-deploy /ecs-deploy
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
ENTRYPOINT ["/ecs-deploy"]
