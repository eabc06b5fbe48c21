# The NATS image of the real-cluster test: a real nats-server binary (no registry is reachable
# here, so not the official image) on the same Debian base. Entry point and arguments match the
# official image as netbench launch uses it: `nats-server -c <conf>`.
FROM debian:bookworm-slim
COPY nats-server /usr/local/bin/nats-server
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/nats-server"]
