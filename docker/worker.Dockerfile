# netbench worker image: the netbench binary plus the benchmark tools it runs.
#   docker build -f docker/worker.Dockerfile -t netbench-worker:latest .
# Not built or run on the project's build machines (no container engine there): kept simple,
# every line standard. Tools: iperf3, qperf (main), netperf (non-free), fortio (from its
# official image, pinned). Runs as uid 10001, which every tool allows: all ports are > 1024.

FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p netbench

FROM fortio/fortio:1.68.2 AS fortio

FROM debian:bookworm-slim
RUN sed -i 's/^Components: main$/Components: main non-free/' /etc/apt/sources.list.d/debian.sources \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iperf3 qperf netperf \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin netbench
COPY --from=fortio /usr/bin/fortio /usr/bin/fortio
COPY --from=build /src/target/release/netbench /usr/local/bin/netbench
USER 10001:10001
ENTRYPOINT ["netbench"]
CMD ["worker"]
