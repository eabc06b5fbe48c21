# netbench worker image: the static netbench binary plus the benchmark tools it runs.
#   docker/build-binary
#   docker build -f docker/worker.Dockerfile -t netbench-worker:latest .
# Tools: iperf3, qperf (main), netperf (non-free), fortio 1.68.2; netbase for /etc/protocols
# (netperf's UDP tests call getprotobyname: without it they fail with 'enable_enobufs failed').
# Runs as uid 10001, which every tool allows: all their ports are > 1024.
#
# Where fortio comes from, chosen by the build argument FORTIO_FROM:
#   official (default)  the official image fortio/fortio:1.68.2 (needs Docker Hub);
#   local               the file target/fortio in the build context: a static linux/amd64
#                       fortio 1.68.2 you built or unpacked there, e.g.
#     docker build -f docker/worker.Dockerfile --build-arg FORTIO_FROM=local -t netbench-worker .
# (docker/worker.Dockerfile.dockerignore lets target/fortio into the context.) The real-cluster
# test (tests/cluster/images) builds it with buildah and FORTIO_FROM=local, fortio unpacked from
# the shared directory. The stage `tools` is everything but fortio.
ARG FORTIO_FROM=official

FROM debian:bookworm-slim AS tools
RUN sed -i 's/^Components: main$/Components: main non-free/' /etc/apt/sources.list.d/debian.sources \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iperf3 qperf netperf netbase \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin netbench
COPY target/x86_64-unknown-linux-gnu/release/netbench /usr/local/bin/netbench
USER 10001:10001
ENTRYPOINT ["netbench"]
CMD ["worker"]

FROM fortio/fortio:1.68.2 AS fortio-official

FROM scratch AS fortio-local
COPY target/fortio /usr/bin/fortio

FROM fortio-${FORTIO_FROM} AS fortio

FROM tools
COPY --from=fortio /usr/bin/fortio /usr/bin/fortio
RUN ["/usr/bin/fortio", "version"]
