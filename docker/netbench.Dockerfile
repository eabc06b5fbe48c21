# netbench launcher and orchestrator image: the static netbench binary and nothing else.
#   docker/build-binary
#   docker build -f docker/netbench.Dockerfile -t netbench:latest .
# Built and run by the real-cluster test (tests/cluster/images, with buildah). The launcher
# needs no shell or tools; the orchestrator only talks to NATS.
FROM scratch
COPY target/x86_64-unknown-linux-gnu/release/netbench /usr/local/bin/netbench
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/netbench"]
