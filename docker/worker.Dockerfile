# netbench worker image: the static netbench binary plus the benchmark tools it runs.
#   docker/build-binary
#   docker build -f docker/worker.Dockerfile -t netbench-worker:latest .
# Tools: iperf3, qperf (main), netperf (non-free), fortio (from its official image, pinned).
# Runs as uid 10001, which every tool allows: all their ports are > 1024.
#
# The stage `tools` is everything but fortio; the real-cluster test (tests/cluster/images)
# builds exactly it with buildah (`--target tools`), since copying fortio is the one step that
# needs a public registry. The default (last) stage adds fortio.

FROM debian:bookworm-slim AS tools
RUN sed -i 's/^Components: main$/Components: main non-free/' /etc/apt/sources.list.d/debian.sources \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iperf3 qperf netperf \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin netbench
COPY target/x86_64-unknown-linux-gnu/release/netbench /usr/local/bin/netbench
USER 10001:10001
ENTRYPOINT ["netbench"]
CMD ["worker"]

FROM fortio/fortio:1.68.2 AS fortio

FROM tools
COPY --from=fortio /usr/bin/fortio /usr/bin/fortio
