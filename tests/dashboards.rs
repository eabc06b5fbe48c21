//! The Grafana dashboard (`deploy/grafana/netbench.json`) and the Prometheus rules
//! (`deploy/prometheus/netbench-rules.yaml`), tested for real.
//!
//! Grafana cannot run here, so the dashboard is tested through what it would send: every PromQL
//! expression of its panels and variables, with the variables filled in as Grafana fills them,
//! goes to a real Prometheus 2.42 (Debian's) that scrapes a real PushGateway (`honor_labels`)
//! and evaluates the rules file. The data are three real `netbench local` runs (iperf3-tcp, two
//! nodes): a baseline; a worse one, with every node's link shaped to 200 Mbit/s by
//! `--link-rate` (tc tbf) and one pair's iperf3 server killed mid-pair; and a normal one again.
//! After each run, every expression must return exactly the series the runs' results files
//! say it should (labels and values), and the alerts that fire must be exactly the ones the
//! results files call for: none after the baseline, "worse than last run" for the shaped pair
//! and "failed pairs" for the second run, none left after the third.

mod support;

use netbench_metrics::testkit::{Prometheus, PushGateway};
use netbench_proto::{PairResult, ResultsFile, Status, Unit};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::*;

const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../deploy/prometheus/netbench-rules.yaml"
);
const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../deploy/grafana/netbench.json"
);

/// The rate the second run's links are shaped to, and the same in bytes per second.
const LINK_RATE: &str = "200mbit";
const LINK_BYTES_PER_SECOND: f64 = 200e6 / 8.0;

type Labels = BTreeMap<String, String>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(DASHBOARD).expect("read the dashboard");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// Every panel, rows' collapsed panels included.
fn panels(dash: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in dash["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner);
        }
    }
    out
}

/// One query of a panel.
struct Target {
    /// The panel title as written (with `$variables`) and the refId: the expectation's key.
    key: (String, String),
    expr: String,
    instant: bool,
}

fn targets(dash: &Value) -> Vec<Target> {
    let mut out = Vec::new();
    for p in panels(dash) {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push(Target {
                key: (
                    p["title"].as_str().expect("title").to_string(),
                    t["refId"].as_str().expect("refId").to_string(),
                ),
                expr: t["expr"].as_str().expect("expr").to_string(),
                instant: t["instant"].as_bool() == Some(true),
            });
        }
    }
    out
}

/// `$name` and `${name}` replaced by `vars[name]`; an unknown variable panics.
fn substitute(text: &str, vars: &BTreeMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = match after.strip_prefix('{') {
            Some(braced) => {
                let end = braced.find('}').expect("closing brace of ${...}");
                (&braced[..end], end + 2)
            }
            None => {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            }
        };
        let value = vars
            .get(name)
            .unwrap_or_else(|| panic!("{text:?} uses ${name}, which is no dashboard variable"));
        out.push_str(value);
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

// ---- Static checks: no server needed ----

#[test]
fn promtool_accepts_the_rules() {
    let out = Command::new("promtool")
        .args(["check", "rules", RULES])
        .output()
        .expect("promtool runs (apt-get install prometheus; tests/setup-debian installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool check rules: {text}");
    assert!(text.contains("SUCCESS: 15 rules found"), "{text}");
}

/// The rules decide "worse" by the unit (rates higher, times lower) and list each benchmark's
/// headline by hand: both must agree with the catalogue, or the rules need updating.
#[test]
fn the_rules_agree_with_the_catalogue() {
    for b in netbench_bench::CATALOGUE {
        for m in b.metrics {
            let want = match m.unit {
                Unit::BytesPerSecond | Unit::PerSecond => {
                    Some(netbench_bench::catalogue::Better::Higher)
                }
                Unit::Seconds => Some(netbench_bench::catalogue::Better::Lower),
                Unit::Count => None,
            };
            if let Some(want) = want {
                assert_eq!(
                    m.better, want,
                    "{} {}: the rules' alert NetbenchPairWorseThanLastRun takes a {:?} metric as \
                     better {want:?}; give it its own alert rule",
                    b.name, m.name, m.unit
                );
            }
        }
    }
    let rules = std::fs::read_to_string(RULES).unwrap();
    // The headline terms: `netbench_<metric>{job="netbench", run!="", benchmark="<name>"}`.
    let listed: BTreeSet<(String, String)> = rules
        .lines()
        .filter(|l| l.contains("benchmark=\""))
        .map(|l| {
            let start = l.find("netbench_").expect("a gauge name");
            let name = &l[start..l[start..].find('{').unwrap() + start];
            let bench = l.split("benchmark=\"").nth(1).unwrap();
            (
                name.to_string(),
                bench[..bench.find('"').unwrap()].to_string(),
            )
        })
        .collect();
    let catalogue: BTreeSet<(String, String)> = netbench_bench::CATALOGUE
        .iter()
        .filter(|b| b.name != "perf-noop")
        .map(|b| {
            let m = b.metric(b.headline).unwrap();
            // The dashboard's "latest ÷ previous" colours assume a headline is better higher.
            assert_eq!(
                m.better,
                netbench_bench::catalogue::Better::Higher,
                "{}",
                b.name
            );
            (
                netbench_metrics::metric_name(m.name, m.unit),
                b.name.to_string(),
            )
        })
        .collect();
    assert_eq!(
        listed, catalogue,
        "netbench:pair_headline in {RULES} must list each benchmark's headline gauge"
    );
}

#[test]
fn the_dashboard_is_a_grafana_model_on_a_prometheus_datasource_variable() {
    let dash = dashboard();
    assert_eq!(dash["schemaVersion"], 39);
    assert!(dash["uid"].as_str().is_some_and(|u| !u.is_empty()));
    let vars = dash["templating"]["list"].as_array().expect("variables");
    let ds = vars
        .iter()
        .find(|v| v["type"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(ds["name"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    let mut ids = BTreeSet::new();
    for p in panels(&dash) {
        let title = p["title"].as_str().unwrap_or_default();
        assert!(
            ids.insert(p["id"].as_u64().expect("panel id")),
            "id of {title}"
        );
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        let ts = p["targets"].as_array().expect("targets");
        assert!(!ts.is_empty(), "{title}");
        for t in ts {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{title}");
            assert!(t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()));
        }
    }
    for v in vars.iter().filter(|v| v["type"] == "query") {
        assert_eq!(v["datasource"]["uid"], "${datasource}", "{}", v["name"]);
        assert_eq!(v["definition"], v["query"]["query"], "{}", v["name"]);
    }
    // The status names of the failed-pairs table are the protocol's.
    let failed = panels(&dash)
        .into_iter()
        .find(|p| p["title"] == "Failed pairs ($path): status of their latest run")
        .expect("failed pairs table");
    let mut names = BTreeMap::new();
    for m in failed["fieldConfig"]["defaults"]["mappings"]
        .as_array()
        .unwrap()
    {
        for (k, v) in m["options"].as_object().unwrap() {
            names.insert(
                k.parse::<u8>().unwrap(),
                v["text"].as_str().unwrap().to_string(),
            );
        }
    }
    let want: BTreeMap<u8, String> = Status::ALL
        .iter()
        .map(|s| (*s as u8, s.name().to_string()))
        .collect();
    assert_eq!(names, want);
}

#[test]
fn link_rate_must_be_a_rate() {
    let out = run(netbench().args(["local", "--link-rate", "fast"]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--link-rate"), "{err}");
    assert!(err.contains("like 100mbit"), "{err}");
}

// ---- The real thing ----

/// One `netbench local` run: its results and the wall-clock window it ran in.
struct Run {
    file: ResultsFile,
    started: f64,
    finished: f64,
}

impl Run {
    fn id(&self) -> &str {
        self.file.results[0].run.as_str()
    }
}

/// `netbench local` with iperf3-tcp on 2 nodes, pushing to `gw`; expects `exit` as exit code.
fn local_run(gw: &str, run: &str, octet: u8, extra: &[&str], exit: i32) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.json");
    let started = unix_now();
    let out = support::run(
        netbench()
            .args(["local", "--benchmark", "iperf3-tcp", "--nodes", "2"])
            .args(["--duration", "1", "--run", run, "--pushgateway", gw])
            .args(["--subnet", &format!("198.18.{octet}.0/24")])
            .args(extra)
            .arg("--results")
            .arg(&results),
    );
    let finished = unix_now();
    assert_eq!(out.status.code(), Some(exit), "exit code of run {run}");
    let file: ResultsFile =
        serde_json::from_slice(&std::fs::read(&results).expect("results file")).unwrap();
    assert_eq!(file.results.len(), 2, "2 nodes, 2 ordered pairs");
    assert!(leftover_namespaces(&format!("nb-{run}")).is_empty());
    Run {
        file,
        started,
        finished,
    }
}

/// Kill (SIGKILL) the first iperf3 server that appears in the pods `nb-<tag>-1-pod` and
/// `nb-<tag>-2-pod` (where the pod workers run), i.e. the server of the run's first pair; the
/// node it ran on.
fn kill_first_iperf3_server(tag: String, stop: Arc<AtomicBool>) -> Option<String> {
    while !stop.load(Ordering::Relaxed) {
        for node in 1..=2 {
            let netns = format!("nb-{tag}-{node}-pod");
            let Ok(out) = Command::new("ip").args(["netns", "pids", &netns]).output() else {
                continue;
            };
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                    continue;
                };
                let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
                let is_server = args.first().is_some_and(|a| a.ends_with(b"iperf3"))
                    && args.iter().any(|a| *a == b"-s");
                if is_server {
                    let pid: i32 = pid.parse().unwrap();
                    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill the iperf3 server");
                    return Some(format!("node-{node}"));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// What a series must hold.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// This value (relative tolerance 1e-12, for ratios computed in two places).
    Is(f64),
    /// A time in this window.
    Between(f64, f64),
}

impl Want {
    fn holds(self, v: f64) -> bool {
        match self {
            Want::Is(w) => v == w || ((v - w) / w).abs() < 1e-12,
            Want::Between(lo, hi) => (lo..=hi).contains(&v),
        }
    }
}

type Expected = BTreeMap<Labels, Want>;

/// The labels every series of a pair carries in Prometheus (the job from the grouping key,
/// no `instance`: the gateway's empty one does not survive honor_labels).
fn pair_labels(r: &PairResult) -> Labels {
    let (c, s) = (&r.task.client, &r.task.server);
    let (entry, sample) = (r.entry.to_string(), r.sample.to_string());
    labels(&[
        ("job", "netbench"),
        ("entry", &entry),
        ("sample", &sample),
        ("path", r.path.name()),
        ("benchmark", &r.benchmark),
        ("client_worker", &c.worker),
        ("server_worker", &s.worker),
        ("client_node", &c.vm.hostname),
        ("server_node", &s.vm.hostname),
        ("client_zone", &c.vm.availability_zone),
        ("server_zone", &s.vm.availability_zone),
    ])
}

fn with(mut l: Labels, extra: &[(&str, &str)]) -> Labels {
    l.extend(labels(extra));
    l
}

fn only(l: &Labels, keys: &[&str]) -> Labels {
    l.iter()
        .filter(|(k, _)| keys.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A pair's measurements the rules compare: `(metric label, value)`; counts are left out.
fn comparable(r: &PairResult) -> Vec<(String, f64)> {
    r.metrics
        .iter()
        .filter(|m| m.unit != Unit::Count)
        .map(|m| {
            let name = netbench_metrics::metric_name(&m.name, m.unit);
            (name["netbench_".len()..].to_string(), m.value)
        })
        .collect()
}

fn headline(r: &PairResult) -> Option<(String, f64)> {
    let b = netbench_bench::find(&r.benchmark).unwrap();
    let def = b.metric(b.headline).unwrap();
    let m = r.metrics.iter().find(|m| m.name == b.headline)?;
    let name = netbench_metrics::metric_name(def.name, def.unit);
    Some((name["netbench_".len()..].to_string(), m.value))
}

fn ok(r: &PairResult) -> bool {
    r.task.status == Status::Ok
}

/// Which pairs the dashboard's node variables select (`None`: All), and its path variable.
#[derive(Debug, Clone, Default)]
struct Selection {
    client: Option<String>,
    server: Option<String>,
    path: netbench_proto::Path,
}

impl Selection {
    /// The pair is on the selected nodes and path (the panels of one path).
    fn keeps_on_path(&self, r: &PairResult) -> bool {
        self.keeps(r) && r.path == self.path
    }
    fn keeps(&self, r: &PairResult) -> bool {
        self.client
            .as_ref()
            .is_none_or(|c| *c == r.task.client.vm.hostname)
            && self
                .server
                .as_ref()
                .is_none_or(|s| *s == r.task.server.vm.hostname)
    }
    /// The variable as Grafana puts a single selection or All (allValue `.*`) into a query.
    fn var(v: &Option<String>) -> String {
        v.clone().unwrap_or_else(|| ".*".to_string())
    }
}

/// A pair's result in one run.
type InRun<'a> = (&'a Run, &'a PairResult);

/// What the runs so far (oldest first) say Prometheus must show.
struct Model<'a> {
    runs: &'a [Run],
}

impl<'a> Model<'a> {
    /// Each pair (path, client worker, server worker) with its results, oldest run first.
    fn history(&self) -> BTreeMap<(netbench_proto::Path, String, String), Vec<InRun<'a>>> {
        let mut out: BTreeMap<_, Vec<_>> = BTreeMap::new();
        for run in self.runs {
            for r in &run.file.results {
                let key = (
                    r.path,
                    r.task.client.worker.clone(),
                    r.task.server.worker.clone(),
                );
                out.entry(key).or_default().push((run, r));
            }
        }
        out
    }
    fn latest(&self) -> Vec<InRun<'a>> {
        self.history()
            .into_values()
            .map(|h| *h.last().unwrap())
            .collect()
    }
    /// (latest, previous) of each pair that has two runs.
    fn last_two(&self) -> Vec<(InRun<'a>, InRun<'a>)> {
        self.history()
            .into_values()
            .filter(|h| h.len() >= 2)
            .map(|h| (h[h.len() - 1], h[h.len() - 2]))
            .collect()
    }
    fn all(&self) -> Vec<InRun<'a>> {
        self.runs
            .iter()
            .flat_map(|run| run.file.results.iter().map(move |r| (run, r)))
            .collect()
    }

    fn push_window(run: &Run) -> Want {
        // The gateway's clock is this machine's; 1 s slack for rounding.
        Want::Between(run.started - 1.0, run.finished + 1.0)
    }

    /// The expected value series of `metrics(pair)` for the given (run, pair) list.
    fn values(
        items: &[(&Run, &PairResult)],
        metrics: impl Fn(&PairResult) -> Vec<(String, f64)>,
    ) -> Expected {
        let mut out = Expected::new();
        for (_, r) in items.iter().filter(|(_, r)| ok(r)) {
            for (metric, v) in metrics(r) {
                let l = with(
                    pair_labels(r),
                    &[("run", r.run.as_str()), ("metric", &metric)],
                );
                out.insert(l, Want::Is(v));
            }
        }
        out
    }

    fn ratios(&self, metrics: impl Fn(&PairResult) -> Vec<(String, f64)>) -> Expected {
        let mut out = Expected::new();
        for ((_, latest), (_, previous)) in self.last_two() {
            if !(ok(latest) && ok(previous)) {
                continue;
            }
            let before: BTreeMap<String, f64> = metrics(previous).into_iter().collect();
            for (metric, v) in metrics(latest) {
                let l = with(
                    pair_labels(latest),
                    &[("run", latest.run.as_str()), ("metric", &metric)],
                );
                out.insert(l, Want::Is(v / before[&metric]));
            }
        }
        out
    }

    /// Every rule's expected result, by rule name (alerting rules: the name and its `better`).
    fn rules(&self) -> BTreeMap<String, Expected> {
        let mut out = BTreeMap::new();
        let run_series = |items: Vec<(&Run, &PairResult)>, with_run: bool| -> Expected {
            items
                .into_iter()
                .map(|(run, r)| {
                    let l = if with_run {
                        with(pair_labels(r), &[("run", r.run.as_str())])
                    } else {
                        pair_labels(r)
                    };
                    (l, Self::push_window(run))
                })
                .collect()
        };
        let previous: Vec<_> = self.last_two().into_iter().map(|(_, p)| p).collect();
        out.insert(
            "netbench:pair_run_push_time_seconds".into(),
            run_series(self.all(), true),
        );
        out.insert(
            "netbench:pair_latest_push_time_seconds".into(),
            run_series(self.latest(), false),
        );
        out.insert(
            "netbench:pair_latest_run".into(),
            run_series(self.latest(), true),
        );
        out.insert(
            "netbench:pair_previous_push_time_seconds".into(),
            run_series(previous.clone(), false),
        );
        out.insert(
            "netbench:pair_previous_run".into(),
            run_series(previous.clone(), true),
        );
        out.insert(
            "netbench:pair_value".into(),
            Self::values(&self.all(), comparable),
        );
        out.insert(
            "netbench:pair_value:latest_run".into(),
            Self::values(&self.latest(), comparable),
        );
        out.insert(
            "netbench:pair_value:previous_run".into(),
            Self::values(&previous, comparable),
        );
        let ratios = self.ratios(comparable);
        out.insert(
            "netbench:pair_value:ratio_to_previous_run".into(),
            ratios.clone(),
        );
        let head = |r: &PairResult| headline(r).into_iter().collect::<Vec<_>>();
        out.insert(
            "netbench:pair_headline".into(),
            Self::values(&self.all(), head),
        );
        out.insert(
            "netbench:pair_headline:latest_run".into(),
            Self::values(&self.latest(), head),
        );
        out.insert(
            "netbench:pair_headline:ratio_to_previous_run".into(),
            self.ratios(head),
        );
        let worse = |suffix: &str, bad: fn(f64) -> bool| -> Expected {
            ratios
                .iter()
                .filter(|(l, w)| {
                    l["metric"].ends_with(suffix) && matches!(w, Want::Is(v) if bad(*v))
                })
                .map(|(l, w)| (l.clone(), *w))
                .collect()
        };
        out.insert(
            "NetbenchPairWorseThanLastRun better=higher".into(),
            worse("_per_second", |v| v < 0.8),
        );
        out.insert(
            "NetbenchPairWorseThanLastRun better=lower".into(),
            worse("_seconds", |v| v > 1.2),
        );
        let mut failed: BTreeMap<Labels, f64> = BTreeMap::new();
        for (_, r) in self.latest().into_iter().filter(|(_, r)| !ok(r)) {
            let l = labels(&[
                ("job", "netbench"),
                ("run", r.run.as_str()),
                ("benchmark", &r.benchmark),
                ("path", r.path.name()),
            ]);
            *failed.entry(l).or_default() += 1.0;
        }
        out.insert(
            "NetbenchRunHasFailedPairs".into(),
            failed.into_iter().map(|(l, n)| (l, Want::Is(n))).collect(),
        );
        out
    }

    /// The alerts that must be firing: alert name, rule labels and expression labels.
    fn firing(&self) -> BTreeSet<Labels> {
        let mut out = BTreeSet::new();
        for (rule, series) in self.rules() {
            let Some(alert) = rule.strip_prefix("Netbench") else {
                continue;
            };
            let (name, better) = match alert.split_once(" better=") {
                Some((n, b)) => (format!("Netbench{n}"), Some(b)),
                None => (rule.clone(), None),
            };
            for l in series.keys() {
                let mut l = with(l.clone(), &[("alertname", &name), ("severity", "warning")]);
                if let Some(b) = better {
                    l.insert("better".into(), b.into());
                }
                out.insert(l);
            }
        }
        out
    }

    /// Every dashboard query's expected result under `sel`, by (panel title, refId).
    fn panels(&self, sel: &Selection) -> BTreeMap<(String, String), Expected> {
        let keep = |items: Vec<InRun<'a>>| -> Vec<InRun<'a>> {
            items.into_iter().filter(|(_, r)| sel.keeps(r)).collect()
        };
        let nodes = |l: &Labels| only(l, &["client_node", "server_node"]);
        let latest: Vec<InRun<'a>> = self
            .latest()
            .into_iter()
            .filter(|(_, r)| sel.keeps_on_path(r))
            .collect();
        let mut head_latest = Expected::new();
        for (l, w) in Self::values(&latest, |r| headline(r).into_iter().collect()) {
            head_latest.insert(nodes(&l), w);
        }
        let mut head_ratio = Expected::new();
        for (l, w) in self.ratios(|r| headline(r).into_iter().collect()) {
            if sel.client.as_ref().is_none_or(|c| *c == l["client_node"])
                && sel.server.as_ref().is_none_or(|s| *s == l["server_node"])
                && l["path"] == sel.path.name()
            {
                head_ratio.insert(nodes(&l), w);
            }
        }
        let failed: Vec<_> = latest.iter().filter(|(_, r)| !ok(r)).collect();
        let failed_table: Expected = failed
            .iter()
            .map(|(_, r)| {
                let l = with(pair_labels(r), &[("run", r.run.as_str())]);
                (
                    only(
                        &l,
                        &[
                            "run",
                            "client_node",
                            "server_node",
                            "client_worker",
                            "server_worker",
                        ],
                    ),
                    Want::Is(f64::from(r.task.status as u8)),
                )
            })
            .collect();
        let mut per_run: BTreeMap<Labels, (f64, f64)> = BTreeMap::new();
        for (_, r) in keep(self.all()) {
            let e = per_run
                .entry(labels(&[("run", r.run.as_str())]))
                .or_default();
            e.0 += 1.0;
            if !ok(r) {
                e.1 += 1.0;
            }
        }
        let mut push_ms = Expected::new();
        for run in self.runs {
            if run.file.results.iter().any(|r| sel.keeps(r)) {
                let Want::Between(lo, hi) = Self::push_window(run) else {
                    unreachable!()
                };
                push_ms.insert(
                    labels(&[("run", run.id())]),
                    Want::Between(lo * 1000.0, hi * 1000.0),
                );
            }
        }
        let key = |title: &str, r: &str| (title.to_string(), r.to_string());
        let head = "$benchmark ($path): $headline, client node (rows) × server node (columns)";
        let runs = "Runs of $benchmark on the PushGateway";
        BTreeMap::from([
            (key(head, "A"), head_latest.clone()),
            (
                key(
                    "$benchmark ($path): $headline, latest run ÷ previous run",
                    "A",
                ),
                head_ratio,
            ),
            (
                key("Failed pairs ($path)", "A"),
                Expected::from([(Labels::new(), Want::Is(failed.len() as f64))]),
            ),
            (
                key("Failed pairs ($path): status of their latest run", "A"),
                failed_table,
            ),
            (
                key("$benchmark ($path): $headline per pair, run after run", "A"),
                head_latest,
            ),
            (
                key(runs, "A"),
                per_run
                    .iter()
                    .map(|(l, (n, _))| (l.clone(), Want::Is(*n)))
                    .collect(),
            ),
            (
                key(runs, "B"),
                per_run
                    .iter()
                    .map(|(l, (_, f))| (l.clone(), Want::Is(*f)))
                    .collect(),
            ),
            (key(runs, "C"), push_ms),
        ])
    }

    /// Each selected pair's headline values run after run, as the history panel must draw
    /// them: the values of the runs in which the pair succeeded, in order.
    fn history_lines(&self, sel: &Selection) -> BTreeMap<Labels, Vec<f64>> {
        let mut out = BTreeMap::new();
        for h in self.history().into_values() {
            let r = h[0].1;
            if !sel.keeps_on_path(r) {
                continue;
            }
            let values = h.iter().filter_map(|(_, r)| headline(r)).map(|(_, v)| v);
            out.insert(
                labels(&[
                    ("client_node", &r.task.client.vm.hostname),
                    ("server_node", &r.task.server.vm.hostname),
                ]),
                values.collect(),
            );
        }
        out
    }
}

/// The `(labels without __name__, value)` of an instant query's answer.
fn vector(body: &str) -> Vec<(Labels, f64)> {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["status"], "success", "{body}");
    assert_eq!(v["data"]["resultType"], "vector", "{body}");
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut l: Labels = serde_json::from_value(s["metric"].clone()).unwrap();
            l.remove("__name__");
            (l, s["value"][1].as_str().unwrap().parse().unwrap())
        })
        .collect()
}

/// An instant query's result matches `want` exactly: the same label sets, each value as wanted.
fn assert_matches(what: &str, expr: &str, got: &[(Labels, f64)], want: &Expected) {
    let got_keys: BTreeSet<&Labels> = got.iter().map(|(l, _)| l).collect();
    let want_keys: BTreeSet<&Labels> = want.keys().collect();
    assert_eq!(
        got_keys.len(),
        got.len(),
        "{what}: duplicate series\n  {expr}\n  {got:?}"
    );
    assert_eq!(
        got_keys, want_keys,
        "{what}: the series differ\n  expr: {expr}\n  got:  {got:?}\n  want: {want:?}"
    );
    for (l, v) in got {
        assert!(
            want[l].holds(*v),
            "{what}: {l:?} is {v}, want {:?}\n  expr: {expr}",
            want[l]
        );
    }
}

async fn query(prom: &Prometheus, expr: &str) -> Vec<(Labels, f64)> {
    let body = prom
        .query(expr)
        .await
        .unwrap_or_else(|e| panic!("{e}\n  expr: {expr}"));
    vector(&body)
}

/// Poll `expr` (an instant query) until its result has `n` series, up to 20 s.
async fn wait_for_series(prom: &Prometheus, expr: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = query(prom, expr).await;
        if got.len() == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{expr}: {} series after 20 s, want {n}: {got:?}\nprometheus log:\n{}",
            got.len(),
            prom.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The firing alerts' labels (/api/v1/alerts), with their summaries checked on the way.
async fn firing_alerts(prom: &Prometheus) -> BTreeSet<Labels> {
    let body = prom.api("/api/v1/alerts", &[]).await.unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    let mut out = BTreeSet::new();
    for a in v["data"]["alerts"].as_array().unwrap() {
        if a["state"] != "firing" {
            continue;
        }
        let l: Labels = serde_json::from_value(a["labels"].clone()).unwrap();
        let summary = a["annotations"]["summary"].as_str().unwrap_or_default();
        assert!(
            summary.contains(&l["run"]) && !summary.contains("error"),
            "summary of {l:?}: {summary}"
        );
        out.insert(l);
    }
    out
}

/// Every rule loaded and healthy, every rule's query and recorded series as the model says,
/// the firing alerts exactly the model's.
async fn check_rules(prom: &Prometheus, model: &Model<'_>) {
    let want = model.rules();
    let body = prom.api("/api/v1/rules", &[]).await.unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    let mut seen = BTreeSet::new();
    for g in v["data"]["groups"].as_array().unwrap() {
        for rule in g["rules"].as_array().unwrap() {
            let name = rule["name"].as_str().unwrap();
            let key = match rule["labels"]["better"].as_str() {
                Some(b) => format!("{name} better={b}"),
                None => name.to_string(),
            };
            assert_eq!(rule["health"], "ok", "{key}: {}", rule["lastError"]);
            let expr = rule["query"].as_str().unwrap();
            let expected = want
                .get(&key)
                .unwrap_or_else(|| panic!("no expectation for rule {key}; add one to the model"));
            assert_matches(&key, expr, &query(prom, expr).await, expected);
            if rule["type"] == "recording" {
                assert_matches(&key, name, &query(prom, name).await, expected);
            }
            seen.insert(key);
        }
    }
    let want_keys: BTreeSet<String> = want.keys().cloned().collect();
    assert_eq!(seen, want_keys, "rules loaded vs rules expected");
}

/// Every dashboard query, with the variables of `sel`, as the model says; the history panel
/// also as a range query over the whole test.
async fn check_dashboard(prom: &Prometheus, model: &Model<'_>, sel: &Selection, since: f64) {
    let dash = dashboard();
    let vars: BTreeMap<&str, String> = BTreeMap::from([
        ("benchmark", "iperf3-tcp".to_string()),
        ("client_node", Selection::var(&sel.client)),
        ("server_node", Selection::var(&sel.server)),
        ("path", sel.path.name().to_string()),
        ("datasource", "prometheus".to_string()),
    ]);
    let want = model.panels(sel);
    let mut seen = BTreeSet::new();
    for t in targets(&dash) {
        let expr = substitute(&t.expr, &vars);
        let what = format!("panel {:?} query {} ({sel:?})", t.key.0, t.key.1);
        let expected = want
            .get(&t.key)
            .unwrap_or_else(|| panic!("no expectation for {what}; add one to the model"));
        assert_matches(&what, &expr, &query(prom, &expr).await, expected);
        if !t.instant {
            check_history(prom, model, sel, &expr, since).await;
        }
        seen.insert(t.key);
    }
    let want_keys: BTreeSet<_> = want.keys().cloned().collect();
    assert_eq!(seen, want_keys, "dashboard queries vs expectations");
}

/// The history panel's range query: one line per pair, stepping through the pair's values
/// run after run.
async fn check_history(
    prom: &Prometheus,
    model: &Model<'_>,
    sel: &Selection,
    expr: &str,
    since: f64,
) {
    // Steps of 1 s ending now, so that the last step sees what an instant query sees.
    let end = unix_now();
    let start = end - (end - since).ceil();
    let (start, end) = (format!("{start:.3}"), format!("{end:.3}"));
    let body = prom
        .api(
            "/api/v1/query_range",
            &[
                ("query", expr),
                ("start", &start),
                ("end", &end),
                ("step", "1"),
            ],
        )
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["resultType"], "matrix", "{body}");
    let mut got = BTreeMap::new();
    for s in v["data"]["result"].as_array().unwrap() {
        let l: Labels = serde_json::from_value(s["metric"].clone()).unwrap();
        let mut steps: Vec<f64> = Vec::new();
        for point in s["values"].as_array().unwrap() {
            let x: f64 = point[1].as_str().unwrap().parse().unwrap();
            if steps.last() != Some(&x) {
                steps.push(x);
            }
        }
        got.insert(l, steps);
    }
    assert_eq!(got, model.history_lines(sel), "history: {expr}");
}

/// The dashboard's query variables (`label_values(query, label)`), as Grafana asks Prometheus.
async fn check_variables(prom: &Prometheus, model: &Model<'_>, since: f64) {
    let dash = dashboard();
    let vars: BTreeMap<&str, String> = BTreeMap::from([("benchmark", "iperf3-tcp".to_string())]);
    let all = model.all();
    let set = |f: &dyn Fn(&PairResult) -> Option<String>| -> BTreeSet<String> {
        all.iter().filter_map(|(_, r)| f(r)).collect()
    };
    let want: BTreeMap<&str, BTreeSet<String>> = BTreeMap::from([
        ("benchmark", set(&|r| Some(r.benchmark.clone()))),
        ("path", set(&|r| Some(r.path.name().to_string()))),
        ("headline", set(&|r| headline(r).map(|(m, _)| m))),
        (
            "client_node",
            set(&|r| Some(r.task.client.vm.hostname.clone())),
        ),
        (
            "server_node",
            set(&|r| Some(r.task.server.vm.hostname.clone())),
        ),
    ]);
    let mut seen = BTreeSet::new();
    for v in dash["templating"]["list"].as_array().unwrap() {
        if v["type"] != "query" {
            continue;
        }
        let name = v["name"].as_str().unwrap();
        let q = substitute(v["query"]["query"].as_str().unwrap(), &vars);
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or_else(|| panic!("variable {name}: {q} is not label_values(query, label)"));
        let (selector, label) = inner.rsplit_once(',').unwrap();
        let body = prom
            .api(
                &format!("/api/v1/label/{}/values", label.trim()),
                &[
                    ("match[]", selector.trim()),
                    ("start", &format!("{since:.3}")),
                    ("end", &format!("{:.3}", unix_now())),
                ],
            )
            .await
            .unwrap_or_else(|e| panic!("variable {name}: {e}"));
        let got: Value = serde_json::from_str(&body).unwrap();
        let got: BTreeSet<String> = serde_json::from_value(got["data"].clone()).unwrap();
        assert_eq!(Some(&got), want.get(name), "variable {name}: {q}");
        seen.insert(name);
    }
    assert_eq!(seen, want.keys().copied().collect(), "variables checked");
}

/// Everything, after the runs so far.
async fn check_all(prom: &Prometheus, runs: &[Run], since: f64) {
    let model = Model { runs };
    // Wait until the rules have seen the newest run on every pair, then for the alerts.
    let newest = runs.last().unwrap().id();
    wait_for_series(
        prom,
        &format!("netbench:pair_latest_run{{run=\"{newest}\"}}"),
        2,
    )
    .await;
    let want_alerts = model.firing();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = firing_alerts(prom).await;
        if got == want_alerts {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after run {newest}: firing alerts\n  got:  {got:?}\n  want: {want_alerts:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    check_rules(prom, &model).await;
    check_variables(prom, &model, since).await;
    for sel in [
        Selection::default(),
        Selection {
            client: Some("node-1".into()),
            ..Default::default()
        },
        Selection {
            server: Some("node-1".into()),
            ..Default::default()
        },
    ] {
        check_dashboard(prom, &model, &sel, since).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_and_rules_against_three_real_runs() {
    assert!(
        is_root(),
        "this test needs root (network namespaces); CI runs as root"
    );
    let since = unix_now() - 1.0;
    let gw = PushGateway::start().await;
    let prom = Prometheus::start(
        &[gw.url().trim_start_matches("http://")],
        &[Path::new(RULES)],
    )
    .await;
    let url = gw.url().to_string();
    let mut runs = Vec::new();

    // 1: the baseline. One run: nothing to compare, no alert.
    runs.push(tokio::task::block_in_place(|| {
        local_run(&url, "dash1", 70, &[], 0)
    }));
    assert!(runs[0].file.results.iter().all(ok));
    check_all(&prom, &runs, since).await;
    assert!(firing_alerts(&prom).await.is_empty());

    // 2: links shaped to 200 Mbit/s, and the first pair's server killed mid-pair.
    let stop = Arc::new(AtomicBool::new(false));
    let killer = {
        let stop = stop.clone();
        std::thread::spawn(move || kill_first_iperf3_server("dash2".into(), stop))
    };
    let second = tokio::task::block_in_place(|| {
        local_run(&url, "dash2", 71, &["--link-rate", LINK_RATE], 1)
    });
    stop.store(true, Ordering::Relaxed);
    let killed = killer.join().unwrap().expect("an iperf3 server was killed");
    let (failed, shaped): (Vec<&PairResult>, Vec<&PairResult>) =
        second.file.results.iter().partition(|r| !ok(r));
    assert_eq!(failed.len(), 1, "the pair whose server was killed fails");
    assert_eq!(failed[0].task.server.worker, killed);
    let rate = |r: &PairResult| {
        r.metrics
            .iter()
            .find(|m| m.name == "throughput_received")
            .unwrap()
            .value
    };
    let baseline = runs[0]
        .file
        .results
        .iter()
        .find(|r| r.task.client.worker == shaped[0].task.client.worker)
        .unwrap();
    assert!(
        rate(shaped[0]) <= LINK_BYTES_PER_SECOND * 1.05,
        "tbf holds the pair to {LINK_RATE}: {} B/s",
        rate(shaped[0])
    );
    assert!(
        rate(baseline) > 2.0 * LINK_BYTES_PER_SECOND,
        "the unshaped baseline is well above {LINK_RATE}, else the test shows nothing: {} B/s",
        rate(baseline)
    );
    let shaped_client = shaped[0].task.client.worker.clone();
    runs.push(second);
    check_all(&prom, &runs, since).await;
    let alerts = firing_alerts(&prom).await;
    let names: BTreeSet<&str> = alerts.iter().map(|l| l["alertname"].as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["NetbenchPairWorseThanLastRun", "NetbenchRunHasFailedPairs"])
    );
    assert!(alerts
        .iter()
        .any(|l| l["alertname"] == "NetbenchPairWorseThanLastRun"
            && l["metric"] == "throughput_received_bytes_per_second"
            && l["client_worker"] == shaped_client
            && l["run"] == "dash2"));

    // 3: a normal run again: nothing is worse than its last run, nothing failed.
    runs.push(tokio::task::block_in_place(|| {
        local_run(&url, "dash3", 72, &[], 0)
    }));
    check_all(&prom, &runs, since).await;
    assert!(firing_alerts(&prom).await.is_empty());
}

// ---- Paths, and series from before paths ----

/// A pair of `iperf3-tcp` from node-1 to node-2 (node-1 to itself for same-node), measured from
/// the real captured output `case`, in run `run` on `path`, every figure multiplied by
/// `factor`. Workers are named per placement as the launcher names them.
fn path_pair(run: &str, path: netbench_proto::Path, case: &str, factor: f64) -> PairResult {
    use netbench_proto::Path as P;
    let mut r = netbench_metrics::testkit::fixture_pair("iperf3-tcp", case, "node-1", "node-2");
    let (c, s) = match path {
        P::Pod | P::Service => ("node-1", "node-2"),
        P::Host => ("node-1-host", "node-2-host"),
        P::SameNode => ("node-1-b", "node-1"),
    };
    r.task.client.worker = c.into();
    r.task.server.worker = s.into();
    if path == P::SameNode {
        r.task.server.vm = r.task.client.vm.clone();
    }
    r.run = run.parse().unwrap();
    r.path = path;
    for m in &mut r.metrics {
        m.value *= factor;
    }
    r
}

/// The text a netbench from before paths pushed for `r`: its series without the `path` label.
fn exposition_without_path(r: &PairResult) -> String {
    let mut out = String::new();
    for s in netbench_metrics::pair_series(r).unwrap() {
        let labels: Vec<String> = s
            .labels
            .iter()
            .filter(|(l, _)| *l != "path")
            .map(|(l, v)| format!("{l}=\"{v}\""))
            .collect();
        out.push_str(&format!(
            "# TYPE {0} gauge\n{0}{{{1}}} {2}\n",
            s.name,
            labels.join(","),
            s.value
        ));
    }
    out
}

/// Poll until `check` holds for the firing alerts, up to 10 s; the alerts.
async fn alerts_until(
    prom: &Prometheus,
    what: &str,
    check: impl Fn(&BTreeSet<Labels>) -> bool,
) -> BTreeSet<Labels> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = firing_alerts(prom).await;
        if check(&got) {
            return got;
        }
        assert!(Instant::now() < deadline, "{what}: firing alerts {got:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Pod, host, service and same-node series of the same two nodes against the real rules and a
/// real Prometheus and PushGateway (no namespaces needed): each path is compared with itself
/// only, a run pushed by a netbench from before paths (no `path` label) counts as pod, failed
/// pairs are counted per path, and the dashboard's Path variable picks one path's matrix.
#[tokio::test(flavor = "multi_thread")]
async fn the_rules_keep_paths_apart_and_take_series_without_a_path_as_pod() {
    use netbench_proto::Path as P;
    let gw = PushGateway::start().await;
    let prom = Prometheus::start(
        &[gw.url().trim_start_matches("http://")],
        &[Path::new(RULES)],
    )
    .await;
    let push = |run: &str, pairs: Vec<PairResult>| {
        let url = gw.url().to_string();
        let run = run.to_string();
        async move {
            let pusher = netbench_metrics::Pusher::new(
                netbench_metrics::PushConfig {
                    url,
                    ..Default::default()
                },
                &run.parse().unwrap(),
            )
            .unwrap();
            for p in &pairs {
                pusher.push_pair(p).await.unwrap();
            }
        }
    };
    let n = comparable(&path_pair("x", P::Pod, "ok", 1.0)).len();

    // old0: the pod pair as a netbench from before paths pushed it. new1: pod at half its
    // figures, host at twice them (a host figure compared with the old pod one would be 2),
    // service at 0.4.
    gw.put_text(
        "old0",
        &exposition_without_path(&path_pair("old0", P::Pod, "ok", 1.0)),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    push(
        "new1",
        vec![
            path_pair("new1", P::Pod, "ok", 0.5),
            path_pair("new1", P::Host, "ok", 2.0),
            path_pair("new1", P::Service, "ok", 0.4),
        ],
    )
    .await;
    let ratios_new1 = "netbench:pair_value:ratio_to_previous_run{run=\"new1\"}";
    wait_for_series(&prom, ratios_new1, n).await;
    for (l, v) in query(&prom, ratios_new1).await {
        assert_eq!(l["path"], "pod", "only pod has an earlier run: {l:?}");
        assert!((v - 0.5).abs() < 1e-12, "new1 pod / old0 pod: {l:?} {v}");
    }
    let previous = query(&prom, "netbench:pair_previous_run").await;
    assert_eq!(previous.len(), 1, "{previous:?}");
    assert_eq!(
        (
            previous[0].0["run"].as_str(),
            previous[0].0["path"].as_str()
        ),
        ("old0", "pod"),
        "the series without a path are the pod pair's previous run"
    );
    let latest: BTreeSet<(String, String)> = query(&prom, "netbench:pair_latest_run")
        .await
        .into_iter()
        .map(|(l, _)| (l["path"].clone(), l["run"].clone()))
        .collect();
    assert_eq!(
        latest,
        BTreeSet::from([
            ("host".to_string(), "new1".to_string()),
            ("pod".into(), "new1".into()),
            ("service".into(), "new1".into()),
        ])
    );
    let alerts = alerts_until(&prom, "after new1", |a| {
        a.iter()
            .any(|l| l["alertname"] == "NetbenchPairWorseThanLastRun")
    })
    .await;
    for l in &alerts {
        assert_eq!(
            (
                l["alertname"].as_str(),
                l["path"].as_str(),
                l["run"].as_str()
            ),
            ("NetbenchPairWorseThanLastRun", "pod", "new1"),
            "{l:?}"
        );
    }
    assert!(alerts
        .iter()
        .any(|l| l["metric"] == "throughput_received_bytes_per_second"));

    // new2: pod and host as in new1 (ratio 1 each: host against host), no service, and a
    // same-node pair that failed.
    push(
        "new2",
        vec![
            path_pair("new2", P::Pod, "ok", 0.5),
            path_pair("new2", P::Host, "ok", 2.0),
            path_pair("new2", P::SameNode, "refused", 1.0),
        ],
    )
    .await;
    let ratios_new2 = "netbench:pair_value:ratio_to_previous_run{run=\"new2\"}";
    wait_for_series(&prom, ratios_new2, 2 * n).await;
    let mut per_path: BTreeMap<String, usize> = BTreeMap::new();
    for (l, v) in query(&prom, ratios_new2).await {
        assert!(
            (v - 1.0).abs() < 1e-12,
            "each path against itself: {l:?} {v}"
        );
        *per_path.entry(l["path"].clone()).or_default() += 1;
    }
    assert_eq!(
        per_path,
        BTreeMap::from([("host".to_string(), n), ("pod".to_string(), n)])
    );
    let alerts = alerts_until(&prom, "after new2", |a| {
        a.iter()
            .all(|l| l["alertname"] == "NetbenchRunHasFailedPairs")
            && !a.is_empty()
    })
    .await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let failed = alerts.iter().next().unwrap();
    assert_eq!(
        (failed["run"].as_str(), failed["path"].as_str()),
        ("new2", "same-node")
    );

    // The dashboard: the Path variable lists every path, the matrix shows the chosen one's.
    let dash = dashboard();
    let var = dash["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "path")
        .expect("a path variable");
    let q = var["query"]["query"]
        .as_str()
        .unwrap()
        .replace("$benchmark", "iperf3-tcp");
    let selector = q
        .strip_prefix("label_values(")
        .and_then(|s| s.strip_suffix(", path)"))
        .unwrap();
    let body = prom
        .api("/api/v1/label/path/values", &[("match[]", selector)])
        .await
        .unwrap();
    let got: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        got["data"],
        serde_json::json!(["host", "pod", "same-node", "service"])
    );
    let matrix = targets(&dash)
        .into_iter()
        .find(|t| {
            t.key
                .0
                .contains("client node (rows) × server node (columns)")
        })
        .unwrap();
    let headline_of = |path: P| {
        path_pair("x", path, "ok", 1.0)
            .metric("throughput_received")
            .unwrap()
    };
    for (path, factor) in [(P::Pod, 0.5), (P::Host, 2.0), (P::Service, 0.4)] {
        let vars = BTreeMap::from([
            ("benchmark", "iperf3-tcp".to_string()),
            ("client_node", ".*".to_string()),
            ("server_node", ".*".to_string()),
            ("path", path.name().to_string()),
        ]);
        let got = query(&prom, &substitute(&matrix.expr, &vars)).await;
        assert_eq!(got.len(), 1, "{path}: {got:?}");
        assert!(
            (got[0].1 - headline_of(path) * factor).abs() < 1e-6,
            "{path}: {got:?}"
        );
    }
}
