//! How long a testbed takes to set up and tear down (the README's figures), e.g.
//! `cargo run --release -p netbench-local --example bed_timing -- 80 pod,host,service,same-node 198.18.160.0/24`
//! (as root). Arguments: nodes, paths (default pod), subnet (default 198.18.160.0/24).

use netbench_local::testbed::{Layout, Subnet, Testbed};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let nodes: usize = args.first().map_or(3, |n| n.parse().expect("nodes"));
    let paths: netbench_proto::Paths = args
        .get(1)
        .map_or("pod", String::as_str)
        .parse()
        .expect("paths");
    let subnet =
        Subnet::parse(args.get(2).map_or("198.18.160.0/24", String::as_str)).expect("subnet");
    // iperf3's and netperf's ports, as a run of both would forward them.
    let ports: Vec<_> = ["iperf3-tcp", "netperf-tcp-rr"]
        .iter()
        .flat_map(|b| netbench_bench::find(b).expect("in the catalogue").ports)
        .copied()
        .collect();
    let layout = Layout::for_paths(paths, &ports);
    let start = Instant::now();
    let bed = Testbed::create("bedtim", subnet, nodes, &layout).expect("testbed");
    let created = start.elapsed();
    let workers = bed.workers().len();
    let start = Instant::now();
    drop(bed);
    println!(
        "{nodes} nodes, paths {paths}, {workers} worker places: set up {:.2} s, torn down {:.2} s",
        created.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
}
