//! `netbench local`: a real benchmark run on this machine, no cluster needed.
//!
//! N network namespaces ("nodes") on a bridge in 198.18.0.0/15 (RFC 2544's benchmarking range),
//! in each a pod (a namespace of its own behind a veth pair and routes), real worker processes
//! where the run's paths need them (pod, node, second pod), a real nats-server with JetStream,
//! and the orchestrator. Everything is torn down on success, failure and Ctrl-C.
//!
//! - [`testbed`]: the namespaces, bridge, veths, routes (via `ip`) and Service DNAT rules
//!   (`iptables-restore`), removed on drop.
//! - [`nats_server`]: a nats-server child with JetStream on a temp store, stopped on drop.
//! - [`relay`]: a TCP relay from the bridge into the host's loopback, so workers in namespaces
//!   reach a NATS that listens on 127.0.0.1.
//! - [`workers`]: the worker processes, one per place the bed has for one, stopped on drop.
//! - [`run`](mod@run): the whole local run.

pub mod nats_server;
pub mod relay;
pub mod run;
pub mod testbed;
pub mod workers;

pub use run::{run, LocalConfig, LocalError};

/// True when this process runs as root (network namespaces need it).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}
