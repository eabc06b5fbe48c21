//! The JSON documents people watch (`nats sub`), chain onto, and keep: pair results, progress
//! events, run state, and the results file. The results file keeps the established keys
//! (`results[].output`, `results[].task.{command,args,task_options,status,client,server}`);
//! everything else here is an added key.

use crate::control::WorkerInfo;
use crate::ids::{RunId, WorkerId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Outcome of one pair, the `status` of the results file. Serialized as its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum Status {
    /// 0: the tool ran and its output parsed into metrics.
    Ok = 0,
    /// 1: the tool exited non-zero or reported an error (refused connection, `error` key...).
    ToolFailed = 1,
    /// 2: the client did not finish within its timeout and was killed.
    TimedOut = 2,
    /// 3: a worker of the pair stopped answering (died, lost its connection).
    WorkerLost = 3,
    /// 4: a worker refused the task (not in the catalogue, tool missing, wrong run).
    Rejected = 4,
    /// 5: the tool exited 0 but its output could not be parsed into metrics.
    OutputUnparsable = 5,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Ok,
        Status::ToolFailed,
        Status::TimedOut,
        Status::WorkerLost,
        Status::Rejected,
        Status::OutputUnparsable,
    ];
    /// The short name used in logs, events and the `status_name` key.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::ToolFailed => "tool_failed",
            Status::TimedOut => "timed_out",
            Status::WorkerLost => "worker_lost",
            Status::Rejected => "rejected",
            Status::OutputUnparsable => "output_unparsable",
        }
    }
}

impl From<Status> for u8 {
    fn from(s: Status) -> u8 {
        s as u8
    }
}

impl TryFrom<u8> for Status {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        Status::ALL
            .into_iter()
            .find(|s| *s as u8 == v)
            .ok_or_else(|| format!("unknown status code {v}"))
    }
}

/// Unit of a metric. Base units only (bytes, seconds), as Prometheus expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    BytesPerSecond,
    Seconds,
    /// Request/response transactions (netperf TCP_RR) or requests (fortio) per second.
    PerSecond,
    /// A plain count (retransmits, errors).
    Count,
}

impl Unit {
    /// The suffix of Prometheus metric names (`netbench_throughput_bytes_per_second`);
    /// empty for plain counts, which are gauges here, not counters.
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::BytesPerSecond => "bytes_per_second",
            Unit::Seconds => "seconds",
            Unit::PerSecond => "per_second",
            Unit::Count => "",
        }
    }
}

/// One measured value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    pub unit: Unit,
    pub value: f64,
}

/// The node a worker runs on (`vm` in the results file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vm {
    pub hostname: String,
    pub availability_zone: String,
}

/// One side of a pair (`client` / `server` in the results file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The worker's name.
    pub worker: String,
    pub ip: String,
    pub vm: Vm,
    /// True when no other task ran on that worker during the pair (always, with serial pairing).
    pub idle: bool,
    /// Added key: the worker's subject-safe id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<WorkerId>,
    /// Added key: the CPUs the worker could use (its cgroup's quota, or the node's CPUs when
    /// it has no CPU limit), so a CPU-bound result can be told from a network-bound one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<u32>,
    /// Added key, on the server of path `service`: the Service address the client connected
    /// to (`ip` stays the pod's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_ip: Option<String>,
}

impl Endpoint {
    pub fn from_worker(w: &WorkerInfo, idle: bool) -> Self {
        Endpoint {
            worker: w.name.clone(),
            ip: w.ip.to_string(),
            vm: Vm {
                hostname: w.hostname.clone(),
                availability_zone: w.zone.clone(),
            },
            idle,
            id: Some(w.id.clone()),
            cpus: (w.cpus > 0).then_some(w.cpus),
            service_ip: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskOptions {
    pub timeout_seconds: u64,
}

/// `task` in the results file: the client command and both sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub command: String,
    pub args: Vec<String>,
    pub task_options: TaskOptions,
    pub status: Status,
    pub client: Endpoint,
    pub server: Endpoint,
    /// Added key: the parameters the command ran with (`--streams`, `--message-size`,
    /// `--rate`, or the catalogue's defaults for them; `{}` when the benchmark takes none).
    #[serde(default)]
    pub parameters: crate::control::Parameters,
}

/// One finished pair: an entry of the results file, and the payload of
/// `netbench.<run>.result.<benchmark>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairResult {
    /// The client tool's stdout (capped, see `output_truncated`).
    pub output: String,
    pub task: TaskRecord,
    pub run: RunId,
    pub benchmark: String,
    /// `<client-id>--<server-id>`, unique within the run; with several entries or samples a
    /// suffix tells them apart (`/e<entry>`, `/s<sample>`), and a path other than `pod` adds
    /// `/<path>` (`/host`, `/service`, `/same-node`).
    pub pair: String,
    /// Which entry of the run's list (`--benchmark a,b`, `--suite`) this is, from 0.
    #[serde(default)]
    pub entry: u32,
    /// Which sample of the pair (`--samples K`), from 0.
    #[serde(default)]
    pub sample: u32,
    /// Which way the traffic went (`--paths`): `pod`, `host`, `service` or `same-node`.
    #[serde(default)]
    pub path: crate::path::Path,
    /// [`Status::name`] of `task.status`.
    pub status_name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    /// Parsed measurements; empty unless `task.status` is 0.
    pub metrics: Vec<Metric>,
    /// Why the pair failed, in words, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The client's stderr, kept when the pair failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    #[serde(default)]
    pub output_truncated: bool,
    /// Wall time of the client tool alone.
    #[serde(default)]
    pub client_seconds: f64,
    /// How many pairs (this one included) ran at some point while this pair ran: 1 for a
    /// strictly serial run. `report` and `compare` say so when figures were taken under load.
    #[serde(default = "one")]
    pub concurrent_pairs: u32,
    /// The pair's place in the plan (the results file keeps plan order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_index: Option<u64>,
}

fn one() -> u32 {
    1
}

impl PairResult {
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.value)
    }
}

/// The results file written at the end of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsFile {
    pub results: Vec<PairResult>,
    /// Added key: the run's id, benchmark and outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunState>,
}

impl PairResult {
    /// Make the result fit in `limit` bytes of JSON (a stream's message size, the server's
    /// payload limit) by cutting its output and stderr, marked in `output_truncated` and
    /// `error`; never by dropping it. JSON escaping can make a control byte six bytes, so the
    /// serialized size is what is measured. Returns whether anything was cut.
    pub fn fit_json(&mut self, limit: usize) -> bool {
        let mut cut = false;
        for _ in 0..8 {
            let size = serde_json::to_vec(self)
                .map(|v| v.len())
                .unwrap_or(usize::MAX);
            if size <= limit {
                return cut;
            }
            let over = size - limit;
            // Take from the longer of the two texts first, a little more than needed.
            let text = if self.output.len() >= self.stderr.as_deref().map_or(0, str::len) {
                &mut self.output
            } else {
                self.stderr.as_mut().expect("longer than output")
            };
            if text.is_empty() {
                break;
            }
            let escaped = serde_json::to_string(text)
                .map(|t| t.len())
                .unwrap_or(text.len());
            // Bytes of raw text per byte of JSON, at least 1/6.
            let keep_json = escaped.saturating_sub(over + 1024);
            let keep = (keep_json as f64 * text.len() as f64 / escaped.max(1) as f64) as usize;
            let mut at = keep.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text.truncate(at);
            if !cut {
                cut = true;
                self.output_truncated = true;
                let note = format!("output cut to fit a {limit}-byte message");
                self.error = Some(match self.error.take() {
                    Some(e) => format!("{e}; {note}"),
                    None => note,
                });
            }
        }
        // Nothing left to cut: output and stderr go entirely.
        self.output.clear();
        self.stderr = None;
        true
    }
}

/// Phase of a run, in the KV bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunPhase {
    Pending,
    Running,
    Done,
    Failed,
}

/// A run's state, stored under the run id in the `NETBENCH_RUNS` bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub run: RunId,
    pub benchmark: String,
    pub phase: RunPhase,
    pub pairs_total: usize,
    pub pairs_done: usize,
    pub pairs_failed: usize,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The pair plan (`mesh`, `ring`, `zones:2`, ...).
    #[serde(default = "mesh")]
    pub plan: String,
    /// How many pairs the run let run at once (`--concurrency`).
    #[serde(default = "one")]
    pub concurrency: u32,
}

fn mesh() -> String {
    "mesh".into()
}

/// `plan zones:2 (seed 7): 12 pairs in 6 rounds at concurrency 2, about 1 m 3 s` for a
/// [`EventKind::RunPlanned`].
pub fn plan_line(kind: &EventKind) -> Option<String> {
    let EventKind::RunPlanned {
        plan,
        seed,
        pairs,
        rounds,
        concurrency,
        estimate_seconds,
    } = kind
    else {
        return None;
    };
    Some(format!(
        "plan {plan} (seed {seed}): {pairs} pairs in {rounds} rounds at concurrency {concurrency}, about {}",
        human_seconds(*estimate_seconds)
    ))
}

/// `2 h 27 m`, `3 m 5 s`, `45 s`.
pub fn human_seconds(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{sec} s"),
        (0, _) if sec == 0 => format!("{m} m"),
        (0, _) => format!("{m} m {sec} s"),
        (_, 0) => format!("{h} h"),
        _ => format!("{h} h {m} m"),
    }
}

/// A progress event on `netbench.<run>.event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub run: RunId,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    RunStarted {
        benchmark: String,
        workers_expected: usize,
    },
    WorkerJoined {
        worker: String,
        id: WorkerId,
        ip: String,
        zone: String,
    },
    /// The plan, before the first pair: how many pairs, in how many rounds, and how long that
    /// should take.
    RunPlanned {
        plan: String,
        seed: u64,
        pairs: u64,
        rounds: u64,
        concurrency: u32,
        estimate_seconds: f64,
    },
    PairStarted {
        pair: String,
        index: usize,
        total: usize,
        client: String,
        server: String,
        /// The pair's path, when not `pod`.
        #[serde(default, skip_serializing_if = "crate::path::Path::is_pod")]
        path: crate::path::Path,
    },
    PairFinished {
        pair: String,
        index: usize,
        total: usize,
        client: String,
        server: String,
        /// The pair's path, when not `pod`.
        #[serde(default, skip_serializing_if = "crate::path::Path::is_pod")]
        path: crate::path::Path,
        status: Status,
        status_name: String,
        /// The benchmark's headline metric, when the pair succeeded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        headline: Option<Metric>,
        seconds: f64,
        /// About how long the rest of the run takes, at the pace so far.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        left_seconds: Option<f64>,
    },
    RunFinished {
        pairs_total: usize,
        pairs_failed: usize,
    },
    RunFailed {
        error: String,
    },
}

impl Event {
    pub fn now(run: &RunId, kind: EventKind) -> Self {
        Event {
            run: run.clone(),
            time: OffsetDateTime::now_utc(),
            kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_serializes_as_its_number_and_rejects_unknown_codes() {
        assert_eq!(serde_json::to_string(&Status::TimedOut).unwrap(), "2");
        assert_eq!(
            serde_json::from_str::<Status>("5").unwrap(),
            Status::OutputUnparsable
        );
        assert!(serde_json::from_str::<Status>("9").is_err());
    }

    #[test]
    fn event_json_is_flat_with_an_event_tag() {
        let e = Event::now(
            &"r1".parse().unwrap(),
            EventKind::RunFinished {
                pairs_total: 6,
                pairs_failed: 0,
            },
        );
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["event"], "run_finished");
        assert_eq!(v["run"], "r1");
        assert_eq!(v["pairs_total"], 6);
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    fn result_with(output: String) -> PairResult {
        let w = crate::control::WorkerInfo {
            id: WorkerId::for_name("a"),
            name: "a".into(),
            ip: "198.18.0.1".parse().unwrap(),
            hostname: "a".into(),
            zone: "z".into(),
            cpus: 0,
            placement: Default::default(),
            service_ip: None,
        };
        PairResult {
            output,
            task: TaskRecord {
                command: "iperf3".into(),
                args: vec![],
                task_options: TaskOptions {
                    timeout_seconds: 30,
                },
                status: Status::Ok,
                client: Endpoint::from_worker(&w, true),
                server: Endpoint::from_worker(&w, true),
                parameters: Default::default(),
            },
            run: "r1".parse().unwrap(),
            benchmark: "iperf3-tcp".into(),
            pair: "p".into(),
            status_name: "ok".into(),
            started_at: OffsetDateTime::UNIX_EPOCH,
            finished_at: OffsetDateTime::UNIX_EPOCH,
            metrics: vec![],
            error: None,
            stderr: Some("\u{1}".repeat(100_000)),
            output_truncated: false,
            client_seconds: 1.0,
            concurrent_pairs: 1,
            plan_index: None,
            entry: 0,
            sample: 0,
            path: Default::default(),
        }
    }

    #[test]
    fn fit_json_cuts_escaped_output_under_the_limit_and_says_so() {
        // 1 MB of control bytes is 6 MB of JSON.
        let mut r = result_with("\u{1}".repeat(1_000_000) + "é");
        assert!(serde_json::to_vec(&r).unwrap().len() > 6_000_000);
        assert!(r.fit_json(1 << 20));
        let json = serde_json::to_vec(&r).unwrap();
        assert!(json.len() <= 1 << 20, "{}", json.len());
        assert!(
            json.len() > 900_000,
            "cut far more than needed: {}",
            json.len()
        );
        assert!(r.output_truncated);
        assert!(r.error.as_deref().unwrap().contains("output cut"));
        // A result that fits is left alone.
        let mut small = result_with("ok".into());
        small.stderr = None;
        let before = small.clone();
        assert!(!small.fit_json(1 << 20));
        assert_eq!(small, before);
    }
}
