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
//! `--samples`); parameters not given take the benchmark's defaults. Everything is checked
//! before anything starts: an unknown key or benchmark, a parameter the benchmark does not
//! take, a value out of range.

use netbench_bench::Benchmark;
use netbench_proto::Parameters;
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
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.bench.name == other.bench.name
            && (self.duration_seconds, self.parameters, self.samples)
                == (other.duration_seconds, other.parameters, other.samples)
    }
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
                parse_suite(&text, duration_seconds, self.samples)
                    .map_err(|e| format!("suite file {}: {e}", path.display()))
            }
            None => from_flags(
                benchmarks,
                duration_seconds,
                &params.parameters(),
                self.samples,
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

/// The paths this build measures (`paths:` in a suite entry).
pub const PATHS: [&str; 1] = ["pod"];

/// Parse and check a suite file. `duration_seconds` and `samples` are the command line's, for
/// entries that leave them out. Errors name the entry (from 1) and what to change.
pub fn parse_suite(text: &str, duration_seconds: u32, samples: u32) -> Result<Vec<Entry>, String> {
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
        for p in e.paths.iter().flatten() {
            if !PATHS.contains(&p.as_str()) {
                return Err(at(format!(
                    "path {p:?} is not one this build measures (only: {}); leave it out",
                    PATHS.join(", ")
                )));
            }
        }
        out.push(Entry {
            bench,
            duration_seconds,
            parameters,
            samples,
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
    }
    s
}

/// Where the samples of a run stand: entry `entry`, sample `sample` of pair `pair`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub entry: u32,
    pub sample: u32,
}

/// The rounds of a run: every entry's samples in order, each round the whole plan once.
/// A job's index in the run is `round * plan_len + place in the plan`.
#[derive(Debug, Clone)]
pub struct Rounds {
    rounds: Vec<Slot>,
    entries: usize,
    most_samples: u32,
}

impl Rounds {
    pub fn new(entries: &[Entry]) -> Rounds {
        let rounds = entries
            .iter()
            .enumerate()
            .flat_map(|(i, e)| {
                (0..e.samples).map(move |sample| Slot {
                    entry: i as u32,
                    sample,
                })
            })
            .collect();
        Rounds {
            rounds,
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
    pub fn get(&self, round: usize) -> Slot {
        self.rounds[round]
    }
    pub fn iter(&self) -> impl Iterator<Item = Slot> + '_ {
        self.rounds.iter().copied()
    }
    /// A pair's id in this run: `<client>--<server>` as ever for one entry of one sample,
    /// `/e<entry>` when the run has several entries, `/s<sample>` when it takes samples.
    pub fn pair_id(&self, base: &str, slot: Slot) -> String {
        let mut id = base.to_string();
        if self.entries > 1 {
            id.push_str(&format!("/e{}", slot.entry));
        }
        if self.most_samples > 1 {
            id.push_str(&format!("/s{}", slot.sample));
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
        let e = parse_suite(suite, 10, 2).unwrap();
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
        assert_eq!(parse_suite(&to_suite(&e), 99, 99).unwrap(), e);
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
                "- benchmark: iperf3-tcp\n  paths: [host]\n",
                "path \"host\"",
            ),
            ("[]", "no entries"),
            ("benchmark: iperf3-tcp\n", "expected a YAML list"),
        ];
        for (text, want) in cases {
            let err = parse_suite(text, 10, 1).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn the_benchmark_list_takes_each_once_and_checks_the_parameters_for_each() {
        let tcp = bench("iperf3-tcp");
        let rr = bench("netperf-tcp-rr");
        let e = from_flags(&[tcp, rr], 10, &Parameters::default(), 3).unwrap();
        assert_eq!(e.len(), 2);
        assert!(e.iter().all(|e| e.samples == 3));
        let err = from_flags(&[tcp, tcp], 10, &Parameters::default(), 1).unwrap_err();
        assert!(err.contains("twice"), "{err}");
        let streams = Parameters {
            streams: Some(4),
            ..Default::default()
        };
        let err = from_flags(&[tcp, rr], 10, &streams, 1).unwrap_err();
        assert!(
            err.contains("netperf-tcp-rr does not take --streams") && err.contains("--suite"),
            "{err}"
        );
        assert!(from_flags(&[tcp], 10, &streams, 1).is_ok());
    }

    #[test]
    fn pair_ids_stay_as_they_were_for_one_entry_of_one_sample() {
        let tcp = bench("iperf3-tcp");
        let rr = bench("netperf-tcp-rr");
        let one = Rounds::new(&from_flags(&[tcp], 10, &Parameters::default(), 1).unwrap());
        assert_eq!(one.len(), 1);
        assert_eq!(one.pair_id("a--b", one.get(0)), "a--b");
        let many = Rounds::new(&from_flags(&[tcp, rr], 10, &Parameters::default(), 2).unwrap());
        let ids: Vec<String> = many.iter().map(|s| many.pair_id("a--b", s)).collect();
        assert_eq!(
            ids,
            ["a--b/e0/s0", "a--b/e0/s1", "a--b/e1/s0", "a--b/e1/s1"]
        );
    }
}
