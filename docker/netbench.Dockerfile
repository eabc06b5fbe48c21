# netbench launcher and orchestrator image: one static (musl) binary, nothing else.
#   docker build -f docker/netbench.Dockerfile -t netbench:latest .
# Not built or run on the project's build machines (no container engine there): kept simple.
# The launcher needs no shell or tools; the orchestrator only talks to NATS.

FROM rust:1.89-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p netbench

FROM scratch
COPY --from=build /src/target/release/netbench /usr/local/bin/netbench
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/netbench"]
