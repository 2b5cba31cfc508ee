# The image the action runs: a static musl build of ecs-deploy on `scratch`, with CA
# certificates and nothing else. Releases build it for linux/amd64 and linux/arm64 on native
# runners (.github/workflows/release.yml); the target triple follows the build machine.
#
# Layers: cargo-chef compiles the dependencies (the AWS SDKs: most of the build time) from a
# recipe of the manifests alone, so a change to src/ rebuilds only the crate itself.
# No USER (GitHub runs container actions as root) and no WORKDIR (the runner sets the
# working directory to the workspace).

FROM rust:1.95-alpine AS chef
# build-base/cmake/perl: aws-lc-sys and ring compile C and assembly; musl-dev: static libc.
RUN apk add --no-cache build-base musl-dev cmake perl ca-certificates \
 && cargo install cargo-chef --locked --version 0.1.78

FROM chef AS planner
COPY . /src/
RUN cd /src && cargo chef prepare --recipe-path /recipe.json

FROM chef AS builder
ENV CARGO_TERM_COLOR=never
COPY --from=planner /recipe.json /recipe.json
RUN mkdir /src && cd /src \
 && cargo chef cook --release --locked --target "$(uname -m)-unknown-linux-musl" --recipe-path /recipe.json
COPY . /src/
RUN cd /src \
 && cargo build --release --locked --target "$(uname -m)-unknown-linux-musl" --bin ecs-deploy \
 && cp "target/$(uname -m)-unknown-linux-musl/release/ecs-deploy" /ecs-deploy \
 && /ecs-deploy --version

FROM scratch
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /ecs-deploy /ecs-deploy
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
ENTRYPOINT ["/ecs-deploy"]
