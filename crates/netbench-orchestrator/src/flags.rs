//! The plan flags `local`, `orchestrator` and `launch` share, and the check that a run fits its
//! deadline before anything starts. Pure.

use crate::plan::{self, NamePatterns, Plan, PlanNode, PlanSpec};
use std::time::Duration;

/// Which pairs run, how many at once.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanFlags {
    /// Which pairs to run: mesh (every ordered pair), ring (each node to the next), star:NODE
    /// (NODE to and from every other), zones:K (K pairs per ordered pair of zones), sample:K
    /// (K random pairs, see --seed), pairs:FILE (client,server node names, one pair a line).
    #[arg(long, default_value = "mesh", env = "NETBENCH_PLAN")]
    pub plan: PlanSpec,
    /// Seed of sample:K (default: a fresh one, printed, so a run can be repeated).
    #[arg(long, env = "NETBENCH_SEED")]
    pub seed: Option<u64>,
    /// Run up to N pairs at once, never a worker in two pairs at the same time. Each result
    /// records how many pairs ran beside it (concurrent_pairs); 1 is strictly serial.
    #[arg(long, default_value_t = 1, value_parser = concurrency, env = "NETBENCH_CONCURRENCY")]
    pub concurrency: u32,
    /// Run even when the plan's estimate exceeds --deadline (the deadline then stops the run
    /// with partial results).
    #[arg(long, env = "NETBENCH_ALLOW_PARTIAL")]
    pub allow_partial: bool,
}

impl Default for PlanFlags {
    fn default() -> PlanFlags {
        PlanFlags {
            plan: PlanSpec::Mesh,
            seed: None,
            concurrency: 1,
            allow_partial: false,
        }
    }
}

/// The most pairs at once: far beyond what a cluster's NATS and workers should see.
pub const MAX_CONCURRENCY: u32 = 1024;

fn concurrency(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(0) => Err("--concurrency 0 runs nothing: write 1 (strictly serial, the default) or more".into()),
        Ok(n) if n <= MAX_CONCURRENCY => Ok(n),
        _ => Err(format!(
            "{s:?} is not a number of pairs at once: write a whole number from 1 to {MAX_CONCURRENCY}"
        )),
    }
}

/// Who may be client, who may be server, by node name (`local`, `orchestrator`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RoleFlags {
    /// Only these nodes are clients: comma-separated names or patterns with * and ?
    /// (or @FILE: one a line).
    #[arg(long, env = "NETBENCH_CLIENTS", value_parser = name_patterns)]
    pub clients: Option<NamePatterns>,
    /// Only these nodes are servers: comma-separated names or patterns with * and ?
    /// (or @FILE: one a line).
    #[arg(long, env = "NETBENCH_SERVERS", value_parser = name_patterns)]
    pub servers: Option<NamePatterns>,
}

/// `node-1,node-[23]` or `@FILE` with one name or pattern a line (how `launch` passes the
/// nodes its label selectors chose).
pub fn name_patterns(s: &str) -> Result<NamePatterns, String> {
    match s.strip_prefix('@') {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the node list {path}: {e}"))?;
            let list: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .collect();
            list.join(",")
                .parse()
                .map_err(|e: plan::PlanError| e.to_string())
        }
        None => s.parse().map_err(|e: plan::PlanError| e.to_string()),
    }
}

/// Everything the orchestrator needs to plan a run.
#[derive(Debug, Clone, Default)]
pub struct PlanConfig {
    pub flags: PlanFlags,
    pub roles: RoleFlags,
}

impl PlanConfig {
    /// The seed the run uses: the one given, else one drawn now (and printed with the plan).
    pub fn seed(&self) -> u64 {
        self.flags.seed.unwrap_or_else(fresh_seed)
    }

    /// The plan of `entries` on these nodes. A run of the same-node path alone needs no pair
    /// across nodes (it may run on a single node).
    pub fn plan(
        &self,
        nodes: &[PlanNode],
        seed: u64,
        entries: &[crate::suite::Entry],
    ) -> Result<Plan, String> {
        let paths = crate::suite::all_paths(entries);
        Plan::new_with(
            &self.flags.plan,
            nodes,
            self.roles.clients.as_ref(),
            self.roles.servers.as_ref(),
            seed,
            !paths.is_empty() && paths.across_nodes().next().is_none(),
        )
        .map_err(|e| e.to_string())
    }
}

/// A seed from the clock and the process: a run needs it to differ, not to be secret.
pub fn fresh_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut x = t.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32);
    // splitmix64's finaliser, so near seeds look unrelated.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d049bb133111eb);
    (x ^ (x >> 31)) % 1_000_000_000
}

/// What a plan costs: pairs, rounds, time.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub pairs: u64,
    pub rounds: u64,
    pub time: Duration,
}

/// The plan's estimate for all of the run's entries, samples and paths, or the refusal (exit
/// 2) when it does not fit the deadline and `--allow-partial` was not given. Each pair of the
/// plan costs every entry's samples × paths across nodes × (test length + overhead); the
/// same-node path adds one pair per node ([`Plan::same_node_nodes`]), side by side up to the
/// concurrency.
pub fn fits(
    plan: &Plan,
    cfg: &PlanConfig,
    entries: &[crate::suite::Entry],
    deadline: Duration,
) -> Result<Estimate, String> {
    let overhead = netbench_proto::timing::PAIR_OVERHEAD.as_secs_f64();
    let concurrency = cfg.flags.concurrency.max(1);
    let across = |e: &crate::suite::Entry| e.paths.across_nodes().count() as u64;
    let same =
        |e: &crate::suite::Entry| u64::from(e.paths.contains(netbench_proto::Path::SameNode));
    // Jobs per pair of the plan, and per same-node node.
    let per_pair: u64 = entries
        .iter()
        .map(|e| u64::from(e.samples) * across(e))
        .sum();
    let per_node: u64 = entries.iter().map(|e| u64::from(e.samples) * same(e)).sum();
    let budget = plan::Budget {
        concurrency,
        duration_s: entries
            .iter()
            .map(|e| (u64::from(e.samples) * across(e)) as f64 * f64::from(e.duration_seconds))
            .sum(),
        overhead_s: per_pair as f64 * overhead,
        deadline,
        extra: Duration::ZERO,
    };
    let nodes = if per_node > 0 {
        plan.same_node_nodes().len() as u64
    } else {
        0
    };
    // Same-node pairs share no node with each other: up to `concurrency` at once.
    let node_rounds = nodes.div_ceil(u64::from(concurrency).min(nodes).max(1));
    let node_seconds: f64 = entries
        .iter()
        .map(|e| {
            (u64::from(e.samples) * same(e)) as f64 * (f64::from(e.duration_seconds) + overhead)
        })
        .sum();
    let extra =
        Duration::try_from_secs_f64(node_rounds as f64 * node_seconds).unwrap_or(Duration::MAX);
    let rounds = plan.rounds(concurrency);
    let est = Estimate {
        pairs: plan.len() * per_pair + nodes * per_node,
        rounds: rounds * per_pair + node_rounds * per_node,
        time: plan::estimate(plan.len(), rounds, budget.duration_s, budget.overhead_s)
            .saturating_add(extra),
    };
    // The refusal builds alternative plans: only when it is needed.
    if cfg.flags.allow_partial || est.time <= deadline {
        return Ok(est);
    }
    if extra >= deadline {
        return Err(format!(
            "the same-node path alone, {nodes} nodes × ~{:.1} s, takes ≈ {} > deadline {}: try --concurrency {} or --deadline {}, or leave same-node out of --paths; or --allow-partial to run anyway and keep what is measured by the deadline",
            node_seconds,
            plan::human(extra),
            plan::human(deadline),
            (concurrency * 2).min(crate::flags::MAX_CONCURRENCY),
            plan::deadline_flag(est.time)
        ));
    }
    match plan::refusal(plan, &plan::Budget { extra, ..budget }) {
        Some(why) => Err(why),
        None => Ok(est),
    }
}

/// The benchmark parameters, the same on `local`, `orchestrator` and `launch`. Each applies
/// only to the benchmarks whose commands take it (`netbench_bench::Benchmark::takes`); any
/// other is refused before anything starts.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ParamFlags {
    /// Parallel streams or connections, 1 to 128 (iperf3 -P, fortio -c; iperf3-tcp,
    /// iperf3-udp, fortio-tcp, fortio-http).
    #[arg(long, env = "NETBENCH_STREAMS", value_name = "N")]
    pub streams: Option<u32>,
    /// Bytes per send, request and response, or datagram (netperf -m / -r, iperf3 -l, qperf
    /// -m): up to 1048576 over TCP, 65507 over UDP.
    #[arg(long, env = "NETBENCH_MESSAGE_SIZE", value_name = "BYTES")]
    pub message_size: Option<u32>,
    /// iperf3-udp's target rate in bits per second: 1G, 250M, 0 for unlimited (default 1G).
    #[arg(long, env = "NETBENCH_RATE", value_name = "RATE", value_parser = rate)]
    pub rate: Option<u64>,
}

fn rate(s: &str) -> Result<u64, String> {
    netbench_bench::params::parse_rate(s).ok_or_else(|| {
        format!("{s:?} is not a rate like 1G, 250M, 500k or 0 (unlimited), at most 1T (bits per second)")
    })
}

impl ParamFlags {
    /// The parameters as given, unchecked.
    pub fn parameters(&self) -> netbench_proto::Parameters {
        netbench_proto::Parameters {
            streams: self.streams,
            message_size: self.message_size,
            rate: self.rate,
        }
    }
    /// The parameters, checked against the benchmark: the error names the flag and the fix.
    pub fn check(
        &self,
        bench: &netbench_bench::Benchmark,
    ) -> Result<netbench_proto::Parameters, String> {
        let p = self.parameters();
        bench.check_parameters(&p)?;
        Ok(p)
    }
    /// The flags again, for a process started with them (the launcher's orchestrator).
    pub fn to_args(p: &netbench_proto::Parameters) -> Vec<String> {
        netbench_bench::Param::ALL
            .into_iter()
            .filter_map(|param| Some([param.flag().to_string(), param.get(p)?.to_string()]))
            .flatten()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::{from_flags, Entry};
    use netbench_proto::Paths;

    fn entries(paths: &str, duration: u32) -> Vec<Entry> {
        let bench = netbench_bench::find("iperf3-tcp").unwrap();
        from_flags(
            &[bench],
            duration,
            &Default::default(),
            1,
            paths.parse::<Paths>().unwrap(),
        )
        .unwrap()
    }

    fn mesh(n: usize) -> Plan {
        let nodes: Vec<PlanNode> = (1..=n)
            .map(|i| PlanNode::new(format!("node-{i}"), ""))
            .collect();
        Plan::new(&PlanSpec::Mesh, &nodes, None, None, 1).unwrap()
    }

    #[test]
    fn every_path_costs_its_pairs_and_same_node_one_pair_per_node() {
        let cfg = PlanConfig::default();
        let hour = Duration::from_secs(3600);
        // 3 nodes: 6 pairs on pod and on host, and 3 same-node pairs: 15 tests of 10.15 s.
        let e = fits(&mesh(3), &cfg, &entries("pod,host,same-node", 10), hour).unwrap();
        assert_eq!((e.pairs, e.rounds), (15, 15));
        assert!((e.time.as_secs_f64() - 15.0 * 10.15).abs() < 1e-6, "{e:?}");
        // Side by side, same-node pairs share no node: 3 at once.
        let wide = PlanConfig {
            flags: PlanFlags {
                concurrency: 3,
                ..Default::default()
            },
            ..Default::default()
        };
        let e = fits(&mesh(3), &wide, &entries("same-node", 10), hour).unwrap();
        assert_eq!((e.pairs, e.rounds), (3, 1));
        // A plan whose pairs fit but not with the same-node pairs on top: refused, saying so.
        let deadline = Duration::from_secs(130);
        assert!(fits(&mesh(3), &cfg, &entries("pod,host", 10), deadline).is_ok());
        let why = fits(&mesh(3), &cfg, &entries("pod,host,same-node", 10), deadline).unwrap_err();
        assert!(why.contains("of same-node pairs"), "{why}");
        // The same-node pairs alone over the deadline: said plainly.
        let why = fits(
            &mesh(3),
            &cfg,
            &entries("same-node", 60),
            Duration::from_secs(120),
        )
        .unwrap_err();
        assert!(
            why.contains("the same-node path alone, 3 nodes") && why.contains("--concurrency 2"),
            "{why}"
        );
    }
}
