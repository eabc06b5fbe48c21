//! What a run measures: a list of entries, each a benchmark with its test length, parameters
//! and number of samples, from `--benchmark a,b` (with `--duration`, `--streams`, ...,
//! `--samples`) or from a suite file. Pure: the caller reads the file.
//!
//! A suite file is a YAML list, the shape k8s-netperf's config has:
//!
//! ```yaml
//! - benchmark: iperf3-tcp
//!   duration: 10s
//!   streams: 4
//!   samples: 5
//! - benchmark: netperf-tcp-rr
//!   message_size: 256
//! ```
//!
//! Keys: `benchmark` (required), `duration`, `streams`, `message_size`, `rate`, `samples`,
//! `paths`. A key an entry leaves out takes the command line's value (`--duration`,
//! `--samples`, `--paths`); parameters not given take the benchmark's defaults. Everything is checked
//! before anything starts: an unknown key or benchmark, a parameter the benchmark does not
//! take, a value out of range.

use netbench_bench::Benchmark;
use netbench_proto::{Parameters, Path, Paths};
use serde::Deserialize;
use std::path::PathBuf;

/// One entry of a run: every pair of the plan runs it `samples` times.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub bench: &'static Benchmark,
    pub duration_seconds: u32,
    /// Given parameters only (checked against `bench`); the rest are the template's defaults.
    pub parameters: Parameters,
    pub samples: u32,
    /// The network paths each pair is measured on (`--paths`, `paths:`).
    pub paths: Paths,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.bench.name == other.bench.name
            && (
                self.duration_seconds,
                self.parameters,
                self.samples,
                self.paths,
            ) == (
                other.duration_seconds,
                other.parameters,
                other.samples,
                other.paths,
            )
    }
}

/// Every path any entry measures.
pub fn all_paths(entries: &[Entry]) -> Paths {
    entries
        .iter()
        .fold(Paths::of(&[]), |acc, e| acc.union(e.paths))
}

/// What a run of `entries` must satisfy whoever made them (flags, a suite file, a program):
/// each test fits the deadline, each benchmark takes its parameters.
pub fn check(entries: &[Entry], deadline: std::time::Duration) -> Result<(), String> {
    for e in entries {
        netbench_bench::flags::deadline_fits(e.duration_seconds, deadline)?;
        e.bench.check_parameters(&e.parameters)?;
    }
    Ok(())
}

/// The benchmarks of `entries`, each once, in order.
pub fn benchmark_names(entries: &[Entry]) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for e in entries {
        if !names.contains(&e.bench.name) {
            names.push(e.bench.name);
        }
    }
    names
}

/// The most samples of one pair (`--samples`, `samples:`).
pub const MAX_SAMPLES: u32 = 100;
/// The most entries of one run.
pub const MAX_ENTRIES: usize = 64;

/// `--samples` and `--suite`, the same on `local`, `orchestrator` and `launch`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SuiteFlags {
    /// Run every pair K times (1 to 100), in rounds: all pairs once, then all again in a
    /// shuffled order, never one pair twice in a row. Each sample is its own result;
    /// `report` shows medians with 95 % intervals, `compare` tests whether a change is noise.
    #[arg(long, env = "NETBENCH_SAMPLES", value_name = "K", default_value_t = 1, value_parser = samples)]
    pub samples: u32,
    /// A YAML list of entries, run one after another on one deployment:
    /// `- {benchmark: iperf3-tcp, duration: 10s, streams: 4, samples: 3}`. Keys: benchmark,
    /// duration, streams, message_size, rate, samples, paths. Not with --benchmark or the
    /// parameter flags.
    #[arg(long, env = "NETBENCH_SUITE", value_name = "FILE", conflicts_with_all = ["benchmark", "streams", "message_size", "rate"])]
    pub suite: Option<PathBuf>,
    /// The network paths to measure, comma-separated: pod (pod to pod across nodes, the
    /// default), host (node to node in hostNetwork: the baseline), service (pod to a ClusterIP
    /// Service in front of the server's pod), same-node (two pods on one node, one pair per
    /// node). Each pair of the plan runs its paths back to back. In a suite file: `paths:`.
    #[arg(
        long,
        env = "NETBENCH_PATHS",
        value_name = "PATHS",
        default_value = "pod"
    )]
    pub paths: Paths,
}

fn samples(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(k) if (1..=MAX_SAMPLES).contains(&k) => Ok(k),
        _ => Err(format!(
            "{s:?}: the number of samples must be a whole number from 1 to {MAX_SAMPLES}"
        )),
    }
}

impl SuiteFlags {
    /// The run's entries: the suite file's (read here), else one per `--benchmark`.
    pub fn entries(
        &self,
        benchmarks: &[&'static Benchmark],
        duration_seconds: u32,
        params: &crate::flags::ParamFlags,
    ) -> Result<Vec<Entry>, String> {
        match &self.suite {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read the suite file {}: {e}", path.display()))?;
                parse_suite(&text, duration_seconds, self.samples, self.paths)
                    .map_err(|e| format!("suite file {}: {e}", path.display()))
            }
            None => from_flags(
                benchmarks,
                duration_seconds,
                &params.parameters(),
                self.samples,
                self.paths,
            ),
        }
    }
}

/// One entry per benchmark named, all with the same length, parameters and samples.
pub fn from_flags(
    benchmarks: &[&'static Benchmark],
    duration_seconds: u32,
    parameters: &Parameters,
    samples: u32,
    paths: Paths,
) -> Result<Vec<Entry>, String> {
    if benchmarks.is_empty() {
        return Err("no benchmark given: add --benchmark NAME (or a list: a,b)".into());
    }
    let mut out: Vec<Entry> = Vec::new();
    for &bench in benchmarks {
        if out.iter().any(|e| e.bench.name == bench.name) {
            return Err(format!(
                "--benchmark names {} twice; to run it with different parameters use --suite FILE",
                bench.name
            ));
        }
        bench.check_parameters(parameters).map_err(|e| {
            if benchmarks.len() > 1 {
                format!("{e} (the parameter flags apply to every benchmark of --benchmark; give each its own in a --suite file)")
            } else {
                e
            }
        })?;
        out.push(Entry {
            bench,
            duration_seconds,
            parameters: *parameters,
            samples,
            paths,
        });
    }
    check_count(out.len())?;
    Ok(out)
}

fn check_count(n: usize) -> Result<(), String> {
    if n > MAX_ENTRIES {
        return Err(format!(
            "{n} entries: at most {MAX_ENTRIES} in one run; split them over several runs"
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteEntry {
    benchmark: String,
    #[serde(default)]
    duration: Option<Scalar>,
    #[serde(default)]
    streams: Option<u32>,
    #[serde(default)]
    message_size: Option<u32>,
    #[serde(default)]
    rate: Option<Scalar>,
    #[serde(default)]
    samples: Option<u32>,
    #[serde(default)]
    paths: Option<Vec<String>>,
}

/// A value written as a number or as text (`10` or `10s`, `0` or `1G`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Number(u64),
    Text(String),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::Number(n) => n.to_string(),
            Scalar::Text(s) => s.clone(),
        }
    }
}

/// Parse and check a suite file. `duration_seconds`, `samples` and `paths` are the command
/// line's, for entries that leave them out. Errors name the entry (from 1) and what to change.
pub fn parse_suite(
    text: &str,
    duration_seconds: u32,
    samples: u32,
    paths: Paths,
) -> Result<Vec<Entry>, String> {
    let list: Vec<SuiteEntry> = serde_norway::from_str(text).map_err(|e| {
        format!("{e}; expected a YAML list of entries like `- {{benchmark: iperf3-tcp, duration: 10s}}` (keys: benchmark, duration, streams, message_size, rate, samples, paths)")
    })?;
    if list.is_empty() {
        return Err("the suite has no entries; add at least one `- benchmark: NAME`".into());
    }
    check_count(list.len())?;
    let mut out = Vec::with_capacity(list.len());
    for (i, e) in list.into_iter().enumerate() {
        let at = |what: String| format!("entry {} ({}): {what}", i + 1, e.benchmark);
        let bench = netbench_bench::flags::benchmark(&e.benchmark).map_err(at)?;
        let duration_seconds = match &e.duration {
            Some(d) => netbench_bench::flags::test_duration(&d.text()).map_err(at)?,
            None => duration_seconds,
        };
        let rate = match &e.rate {
            Some(r) => Some(
                netbench_bench::params::parse_rate(&r.text()).ok_or_else(|| {
                    at(format!(
                        "rate {:?} is not a rate like 1G, 250M, 500k or 0 (unlimited)",
                        r.text()
                    ))
                })?,
            ),
            None => None,
        };
        let parameters = Parameters {
            streams: e.streams,
            message_size: e.message_size,
            rate,
        };
        bench.check_parameters(&parameters).map_err(at)?;
        let samples = match e.samples {
            Some(k) => self::samples(&k.to_string()).map_err(at)?,
            None => samples,
        };
        let paths = match &e.paths {
            Some(list) => Paths::parse(list).map_err(at)?,
            None => paths,
        };
        out.push(Entry {
            bench,
            duration_seconds,
            parameters,
            samples,
            paths,
        });
    }
    Ok(out)
}

/// The suite file that gives `entries` again (what the launcher hands its orchestrator).
pub fn to_suite(entries: &[Entry]) -> String {
    let mut s = String::new();
    for e in entries {
        s.push_str(&format!(
            "- benchmark: {}\n  duration: {}s\n  samples: {}\n",
            e.bench.name, e.duration_seconds, e.samples
        ));
        if let Some(v) = e.parameters.streams {
            s.push_str(&format!("  streams: {v}\n"));
        }
        if let Some(v) = e.parameters.message_size {
            s.push_str(&format!("  message_size: {v}\n"));
        }
        if let Some(v) = e.parameters.rate {
            s.push_str(&format!("  rate: {v}\n"));
        }
        let paths: Vec<&str> = e.paths.iter().map(Path::name).collect();
        s.push_str(&format!("  paths: [{}]\n", paths.join(", ")));
    }
    s
}

/// Where the samples of a run stand: entry `entry`, sample `sample` of pair `pair`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub entry: u32,
    pub sample: u32,
}

/// One round: one sample of one entry over the whole plan. Each pair of the plan runs the
/// entry's paths across nodes back to back (so a pair's `pod` and `host` figures are taken
/// moments apart), then each same-node node once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub slot: Slot,
    pub paths: Paths,
    /// The round's first job index.
    pub offset: u64,
    /// Jobs in the round.
    pub len: u64,
}

impl Round {
    /// Paths across nodes, per pair of the plan.
    fn per_pair(&self) -> u64 {
        self.paths.across_nodes().count() as u64
    }
}

/// What one job of a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobAt {
    /// Index into [`Rounds`].
    pub round: usize,
    pub slot: Slot,
    pub path: Path,
    pub place: Place,
}

/// Where a job falls in its round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A pair of the plan (its canonical index).
    Pair(u64),
    /// The `i`-th node of the same-node path.
    Node(u64),
}

/// The rounds of a run: every entry's samples in order, each round the whole plan once on
/// each of the entry's paths. A job's index in the run (its `plan_index`, the results file's
/// order) is `round offset + plan pair × paths across nodes + path`, then the same-node nodes.
#[derive(Debug, Clone)]
pub struct Rounds {
    rounds: Vec<Round>,
    plan_len: u64,
    entries: usize,
    most_samples: u32,
}

impl Rounds {
    /// `plan_len` pairs across nodes, `same_node` nodes for the same-node path.
    pub fn new(entries: &[Entry], plan_len: u64, same_node: u64) -> Rounds {
        let mut offset = 0;
        let mut rounds = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            for sample in 0..e.samples {
                let mut r = Round {
                    slot: Slot {
                        entry: i as u32,
                        sample,
                    },
                    paths: e.paths,
                    offset,
                    len: 0,
                };
                r.len = plan_len * r.per_pair()
                    + if e.paths.contains(Path::SameNode) {
                        same_node
                    } else {
                        0
                    };
                offset += r.len;
                rounds.push(r);
            }
        }
        Rounds {
            rounds,
            plan_len,
            entries: entries.len(),
            most_samples: entries.iter().map(|e| e.samples).max().unwrap_or(1),
        }
    }
    pub fn len(&self) -> usize {
        self.rounds.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rounds.is_empty()
    }
    pub fn get(&self, round: usize) -> Round {
        self.rounds[round]
    }
    pub fn iter(&self) -> impl Iterator<Item = Round> + '_ {
        self.rounds.iter().copied()
    }
    /// Jobs in the whole run.
    pub fn total(&self) -> u64 {
        self.rounds.last().map_or(0, |r| r.offset + r.len)
    }
    /// The jobs of `round` for the plan pair at canonical index `pair`, one per path across
    /// nodes: (job index, path).
    pub fn pair_jobs(&self, round: usize, pair: u64) -> impl Iterator<Item = (u64, Path)> {
        let r = self.rounds[round];
        let k = r.per_pair();
        r.paths
            .across_nodes()
            .enumerate()
            .map(move |(i, p)| (r.offset + pair * k + i as u64, p))
    }
    /// The job index of the `node`-th same-node pair of `round`, if the round has that path.
    pub fn node_job(&self, round: usize, node: u64) -> Option<u64> {
        let r = self.rounds[round];
        r.paths
            .contains(Path::SameNode)
            .then(|| r.offset + self.plan_len * r.per_pair() + node)
    }
    /// What job `index` is.
    pub fn locate(&self, index: u64) -> Option<JobAt> {
        let round = self.rounds.partition_point(|r| r.offset + r.len <= index);
        let r = *self.rounds.get(round)?;
        let at = index.checked_sub(r.offset)?;
        let k = r.per_pair();
        let (path, place) = if at < self.plan_len * k {
            let path = r.paths.across_nodes().nth((at % k) as usize)?;
            (path, Place::Pair(at / k))
        } else {
            (Path::SameNode, Place::Node(at - self.plan_len * k))
        };
        Some(JobAt {
            round,
            slot: r.slot,
            path,
            place,
        })
    }
    /// A pair's id in this run: `<client>--<server>` as ever for one entry of one sample on
    /// the pod path, `/e<entry>` when the run has several entries, `/s<sample>` when it takes
    /// samples, `/<path>` for a path other than `pod`.
    pub fn pair_id(&self, base: &str, slot: Slot, path: Path) -> String {
        let mut id = base.to_string();
        if self.entries > 1 {
            id.push_str(&format!("/e{}", slot.entry));
        }
        if self.most_samples > 1 {
            id.push_str(&format!("/s{}", slot.sample));
        }
        if path != Path::Pod {
            id.push('/');
            id.push_str(path.name());
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bench(name: &str) -> &'static Benchmark {
        netbench_bench::find(name).unwrap()
    }

    #[test]
    fn a_suite_file_gives_its_entries_with_the_command_lines_defaults() {
        let suite = "- benchmark: iperf3-tcp\n  duration: 5s\n  streams: 4\n  samples: 3\n\
                     - {benchmark: netperf-tcp-rr, message_size: 256}\n\
                     - benchmark: iperf3-udp\n  rate: 50M\n  duration: 7\n  paths: [pod]\n";
        let e = parse_suite(suite, 10, 2, Paths::default()).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].bench.name, "iperf3-tcp");
        assert_eq!((e[0].duration_seconds, e[0].samples), (5, 3));
        assert_eq!(e[0].parameters.streams, Some(4));
        assert_eq!(e[1].bench.name, "netperf-tcp-rr");
        assert_eq!((e[1].duration_seconds, e[1].samples), (10, 2));
        assert_eq!(e[1].parameters.message_size, Some(256));
        assert_eq!(e[2].parameters.rate, Some(50_000_000));
        assert_eq!(e[2].duration_seconds, 7);
        // And back: the launcher's copy parses to the same entries.
        assert_eq!(
            parse_suite(&to_suite(&e), 99, 99, Paths::parse(&["host"]).unwrap()).unwrap(),
            e
        );
    }

    #[test]
    fn bad_suites_are_refused_with_the_entry_and_the_fix() {
        let cases = [
            (
                "- benchmark: iperf3-tcp\n  sample: 3\n",
                "unknown field `sample`",
            ),
            (
                "- benchmark: iperf9\n",
                "entry 1 (iperf9): unknown benchmark",
            ),
            (
                "- benchmark: iperf3-tcp\n- benchmark: netperf-tcp-rr\n  streams: 2\n",
                "entry 2 (netperf-tcp-rr): netperf-tcp-rr does not take --streams",
            ),
            (
                "- benchmark: iperf3-tcp\n  streams: 0\n",
                "--streams 0 is outside",
            ),
            ("- benchmark: iperf3-tcp\n  samples: 0\n", "from 1 to 100"),
            ("- benchmark: iperf3-tcp\n  duration: 0s\n", "between 1s"),
            ("- benchmark: iperf3-udp\n  rate: fast\n", "is not a rate"),
            (
                "- benchmark: iperf3-tcp\n  paths: [host, nodes]\n",
                "entry 1 (iperf3-tcp): unknown path \"nodes\"",
            ),
            (
                "- benchmark: iperf3-tcp\n  paths: [pod, pod]\n",
                "named twice",
            ),
            ("- benchmark: iperf3-tcp\n  paths: []\n", "no path given"),
            ("[]", "no entries"),
            ("benchmark: iperf3-tcp\n", "expected a YAML list"),
        ];
        for (text, want) in cases {
            let err = parse_suite(text, 10, 1, Paths::default()).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn the_benchmark_list_takes_each_once_and_checks_the_parameters_for_each() {
        let tcp = bench("iperf3-tcp");
        let rr = bench("netperf-tcp-rr");
        let e = from_flags(&[tcp, rr], 10, &Parameters::default(), 3, Paths::default()).unwrap();
        assert_eq!(e.len(), 2);
        assert!(e.iter().all(|e| e.samples == 3));
        let err =
            from_flags(&[tcp, tcp], 10, &Parameters::default(), 1, Paths::default()).unwrap_err();
        assert!(err.contains("twice"), "{err}");
        let streams = Parameters {
            streams: Some(4),
            ..Default::default()
        };
        let err = from_flags(&[tcp, rr], 10, &streams, 1, Paths::default()).unwrap_err();
        assert!(
            err.contains("netperf-tcp-rr does not take --streams") && err.contains("--suite"),
            "{err}"
        );
        assert!(from_flags(&[tcp], 10, &streams, 1, Paths::default()).is_ok());
    }

    #[test]
    fn pair_ids_stay_as_they_were_for_one_entry_of_one_sample_on_the_pod_path() {
        let tcp = bench("iperf3-tcp");
        let rr = bench("netperf-tcp-rr");
        let plain = Paths::default();
        let one = Rounds::new(
            &from_flags(&[tcp], 10, &Parameters::default(), 1, plain).unwrap(),
            6,
            3,
        );
        assert_eq!((one.len(), one.total()), (1, 6));
        assert_eq!(one.pair_id("a--b", one.get(0).slot, Path::Pod), "a--b");
        let many = Rounds::new(
            &from_flags(&[tcp, rr], 10, &Parameters::default(), 2, plain).unwrap(),
            6,
            3,
        );
        let ids: Vec<String> = many
            .iter()
            .map(|r| many.pair_id("a--b", r.slot, Path::Pod))
            .collect();
        assert_eq!(
            ids,
            ["a--b/e0/s0", "a--b/e0/s1", "a--b/e1/s0", "a--b/e1/s1"]
        );
        assert_eq!(
            one.pair_id("a--b", one.get(0).slot, Path::SameNode),
            "a--b/same-node"
        );
    }

    #[test]
    fn a_round_runs_each_pair_on_its_paths_back_to_back_then_the_same_node_pairs() {
        let tcp = bench("iperf3-tcp");
        let all = Paths::parse(&["pod,host,service,same-node"]).unwrap();
        let entries = from_flags(&[tcp], 10, &Parameters::default(), 2, all).unwrap();
        // 6 pairs × 3 paths across nodes + 3 same-node pairs = 21 jobs a round.
        let r = Rounds::new(&entries, 6, 3);
        assert_eq!((r.len(), r.total()), (2, 42));
        let jobs: Vec<(u64, Path)> = r.pair_jobs(1, 2).collect();
        assert_eq!(
            jobs,
            [
                (21 + 6, Path::Pod),
                (21 + 7, Path::Host),
                (21 + 8, Path::Service)
            ]
        );
        assert_eq!(r.node_job(1, 2), Some(21 + 18 + 2));
        // Every job index is located where it was made, once.
        let mut seen = std::collections::BTreeSet::new();
        for round in 0..r.len() {
            for pair in 0..6 {
                for (index, path) in r.pair_jobs(round, pair) {
                    let at = r.locate(index).unwrap();
                    assert_eq!(
                        (at.round, at.path, at.place),
                        (round, path, Place::Pair(pair))
                    );
                    assert!(seen.insert(index));
                }
            }
            for node in 0..3 {
                let index = r.node_job(round, node).unwrap();
                let at = r.locate(index).unwrap();
                assert_eq!((at.path, at.place), (Path::SameNode, Place::Node(node)));
                assert!(seen.insert(index));
            }
        }
        assert_eq!(seen.len() as u64, r.total());
        assert_eq!(r.locate(r.total()), None);
        // A pod-only entry next to a same-node-only one.
        let mixed = vec![
            entries[0],
            Entry {
                paths: Paths::parse(&["same-node"]).unwrap(),
                samples: 1,
                ..entries[0]
            },
        ];
        let r = Rounds::new(&mixed, 6, 3);
        assert_eq!(r.total(), 21 * 2 + 3);
        assert_eq!(r.pair_jobs(2, 0).count(), 0);
        assert_eq!(r.node_job(2, 0), Some(42));
        assert_eq!(r.node_job(0, 0), Some(18));
    }
}
