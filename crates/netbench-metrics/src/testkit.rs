//! Test helpers (feature `testkit`), shared by this crate's tests and the end-to-end tests:
//!
//! - [`PushGateway`]: the real `prometheus-pushgateway` on a free 127.0.0.1 port, optionally with
//!   basic auth and TLS (certificates made on the spot), no persistence; killed and reaped on drop.
//! - [`parse_text`]: the samples of a Prometheus text exposition (what a scrape sees).
//! - [`pair_result`]: a [`PairResult`] measured from a real tool output by the real parser.
//! - [`assert_pair_on_gateway`]: a scrape holds exactly the series a pair should have, with its
//!   labels and its results-file values.
//! - [`Prometheus`]: the real `prometheus` server on a free 127.0.0.1 port with a temp config
//!   and storage, scraping given targets every second with `honor_labels: true` (as a
//!   PushGateway is scraped) and evaluating given rule files every second; its HTTP API answers
//!   as raw JSON. Killed, reaped and its storage removed on drop.

use netbench_proto::{
    Captured, Endpoint, PairResult, ProcessOutcome, RunId, TaskOptions, TaskRecord, Vm, WorkerId,
};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// A finished pair of `bench` between `client` and `server`, judged by `netbench_bench::measure`
/// from a tool's stdout, stderr and exit code. Node names are `host-<worker>`, zones
/// `zone-<worker>`, the run `run1`.
pub fn pair_result(
    bench: &str,
    client: &str,
    server: &str,
    stdout: &str,
    stderr: &str,
    exit_code: i32,
) -> PairResult {
    let b = netbench_bench::find(bench).unwrap_or_else(|| panic!("{bench} not in the catalogue"));
    let outcome = ProcessOutcome {
        exit_code: Some(exit_code),
        signal: None,
        timed_out: false,
        stdout: Captured {
            text: stdout.to_string(),
            truncated: false,
        },
        stderr: Captured {
            text: stderr.to_string(),
            truncated: false,
        },
        elapsed_seconds: 1.0,
        idle: true,
    };
    let m = netbench_bench::measure(b, &outcome);
    let endpoint = |w: &str, ip: &str| Endpoint {
        worker: w.to_string(),
        ip: ip.to_string(),
        vm: Vm {
            hostname: format!("host-{w}"),
            availability_zone: format!("zone-{w}"),
        },
        idle: true,
        id: Some(WorkerId::for_name(w)),
        cpus: None,
        service_ip: None,
    };
    let now = OffsetDateTime::now_utc();
    let client_ep = endpoint(client, "198.18.40.2");
    let server_ep = endpoint(server, "198.18.40.3");
    PairResult {
        output: stdout.to_string(),
        task: TaskRecord {
            command: b.client.program.to_string(),
            args: Vec::new(),
            task_options: TaskOptions {
                timeout_seconds: 30,
            },
            status: m.status,
            client: client_ep.clone(),
            server: server_ep.clone(),
            parameters: Default::default(),
        },
        run: "run1".parse::<RunId>().expect("valid run id"),
        benchmark: bench.to_string(),
        pair: format!(
            "{}--{}",
            client_ep.id.expect("set above"),
            server_ep.id.expect("set above")
        ),
        status_name: m.status.name().to_string(),
        started_at: now,
        finished_at: now,
        metrics: m.metrics,
        error: m.error,
        stderr: None,
        output_truncated: false,
        client_seconds: 1.0,
        concurrent_pairs: 1,
        plan_index: None,
        entry: 0,
        sample: 0,
        path: Default::default(),
    }
}

/// Read `crates/netbench-bench/tests/fixtures/<bench>/<case>.{stdout,stderr,exitcode}` and
/// measure it with [`pair_result`].
pub fn fixture_pair(bench: &str, case: &str, client: &str, server: &str) -> PairResult {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../netbench-bench/tests/fixtures")
        .join(bench);
    let read = |ext: &str| {
        let p = base.join(format!("{case}.{ext}"));
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    pair_result(
        bench,
        client,
        server,
        &read("stdout"),
        &read("stderr"),
        read("exitcode").trim().parse().expect("exit code"),
    )
}

/// One sample line of a scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// The samples of a Prometheus text exposition, and the `# HELP` of each family.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub samples: Vec<Sample>,
    pub help: BTreeMap<String, String>,
}

impl Scrape {
    /// The samples named `name`.
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }
    /// The samples whose labels include all of `labels`.
    pub fn with_labels<'a>(
        &'a self,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }
}

/// Parse the Prometheus text format (version 0.0.4): `name{label="value",...} value [ts]`.
pub fn parse_text(text: &str) -> Result<Scrape, String> {
    let mut out = Scrape::default();
    for (no, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            out.help.insert(name.to_string(), unescape(help, false));
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |what: &str| format!("line {}: {what}: {line}", no + 1);
        let name_end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .ok_or_else(|| err("no value"))?;
        let name = &line[..name_end];
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(after) = rest.strip_prefix('{') {
            let mut s = after;
            loop {
                s = s.trim_start_matches([',', ' ']);
                if let Some(after) = s.strip_prefix('}') {
                    s = after;
                    break;
                }
                let eq = s.find('=').ok_or_else(|| err("label without ="))?;
                let key = s[..eq].trim().to_string();
                let v = s[eq + 1..]
                    .strip_prefix('"')
                    .ok_or_else(|| err("label value not quoted"))?;
                let mut value = String::new();
                let mut chars = v.char_indices();
                let end = loop {
                    match chars.next() {
                        Some((i, '"')) => break i,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, c)) => value.push(c),
                            None => return Err(err("unterminated escape")),
                        },
                        Some((_, c)) => value.push(c),
                        None => return Err(err("unterminated label value")),
                    }
                };
                labels.insert(key, value);
                s = &v[end + 1..];
            }
            rest = s;
        }
        let value = rest
            .split_whitespace()
            .next()
            .ok_or_else(|| err("no value"))?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().map_err(|_| err("value is not a number"))?,
        };
        out.samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    Ok(out)
}

fn unescape(s: &str, quotes: bool) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some('n')) => {
                out.push('\n');
                chars.next();
            }
            ('\\', Some('\\')) => {
                out.push('\\');
                chars.next();
            }
            ('\\', Some('"')) if quotes => {
                out.push('"');
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// The labels every series of `r` must carry on the gateway: the pair's labels and the job.
pub fn expected_labels(r: &PairResult) -> BTreeMap<String, String> {
    let (c, s) = (&r.task.client, &r.task.server);
    let (entry, sample) = (r.entry.to_string(), r.sample.to_string());
    let mut want: BTreeMap<String, String> = [
        ("run", r.run.as_str()),
        ("benchmark", r.benchmark.as_str()),
        ("client_worker", c.worker.as_str()),
        ("server_worker", s.worker.as_str()),
        ("client_node", c.vm.hostname.as_str()),
        ("server_node", s.vm.hostname.as_str()),
        ("client_zone", c.vm.availability_zone.as_str()),
        ("server_zone", s.vm.availability_zone.as_str()),
        ("entry", entry.as_str()),
        ("sample", sample.as_str()),
        ("path", r.path.name()),
        ("job", "netbench"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // The gateway adds an empty `instance` to pushed series that have none; the text format
    // shows it as instance="".
    want.insert("instance".into(), String::new());
    want
}

/// The samples of the scrape that belong to pair `r` (same run, client and server worker,
/// entry, sample and path).
pub fn pair_samples<'a>(scrape: &'a Scrape, r: &'a PairResult) -> Vec<&'a Sample> {
    let (entry, sample) = (r.entry.to_string(), r.sample.to_string());
    scrape
        .samples
        .iter()
        .filter(|s| {
            let is = |k: &str, v: &str| s.labels.get(k).map(String::as_str) == Some(v);
            is("run", r.run.as_str())
                && is("client_worker", &r.task.client.worker)
                && is("server_worker", &r.task.server.worker)
                && is("entry", &entry)
                && is("sample", &sample)
                && is("path", r.path.name())
        })
        .collect()
}

/// Every series of `r` is on the gateway, exactly once, with the pair's labels and values; a
/// failed pair has status series only.
pub fn assert_pair_on_gateway(scrape: &Scrape, r: &PairResult) {
    let samples = pair_samples(scrape, r);
    let want = expected_labels(r);
    for s in &samples {
        assert_eq!(s.labels, want, "labels of {}", s.name);
    }
    let value_of = |name: &str| {
        let found: Vec<f64> = samples
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.value)
            .collect();
        assert_eq!(found.len(), 1, "{name} of pair {}: {found:?}", r.pair);
        found[0]
    };
    assert_eq!(value_of(crate::PAIR_STATUS), f64::from(r.task.status as u8));
    let ok = r.task.status == netbench_proto::Status::Ok;
    assert_eq!(value_of(crate::PAIR_OK), if ok { 1.0 } else { 0.0 });
    let bench = netbench_bench::find(&r.benchmark).unwrap();
    if ok {
        assert!(!r.metrics.is_empty());
        for m in &r.metrics {
            let name = crate::metric_name(&m.name, m.unit);
            assert_eq!(value_of(&name), m.value, "{name} of pair {}", r.pair);
            assert_eq!(
                scrape.help.get(&name).map(String::as_str),
                Some(bench.metric(&m.name).unwrap().help)
            );
        }
        assert_eq!(samples.len(), 2 + r.metrics.len(), "no other series");
    } else {
        assert_eq!(
            samples.len(),
            2,
            "a failed pair has only status series: {samples:?}"
        );
        for def in bench.metrics {
            let name = crate::metric_name(def.name, def.unit);
            assert!(
                samples.iter().all(|s| s.name != name),
                "{name} for a failed pair"
            );
        }
    }
}

/// How to start a [`PushGateway`].
#[derive(Debug, Clone, Default)]
pub struct GatewayOptions {
    /// Require basic auth with this user and password (bcrypt hash in the web config).
    pub basic_auth: Option<(String, String)>,
    /// Serve HTTPS with a certificate for 127.0.0.1 signed by a fresh CA ([`PushGateway::ca_file`]).
    pub tls: bool,
    /// Listen on this port instead of a free one picked at random (no retry if it is taken).
    pub port: Option<u16>,
}

/// A running `prometheus-pushgateway`; killed and reaped on drop.
pub struct PushGateway {
    child: Child,
    url: String,
    ca_file: Option<PathBuf>,
    auth: Option<(String, String)>,
    client: reqwest::Client,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// The pushgateway binary: `$PUSHGATEWAY_BIN`, else the Debian package's, else `pushgateway`.
fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("PUSHGATEWAY_BIN") {
        return p.into();
    }
    let debian = Path::new("/usr/bin/prometheus-pushgateway");
    if debian.exists() {
        return debian.into();
    }
    "pushgateway".into()
}

/// A 127.0.0.1 port nothing listened on a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

impl PushGateway {
    /// A plain HTTP gateway without auth.
    pub async fn start() -> Self {
        Self::start_with(GatewayOptions::default()).await
    }

    pub async fn start_with(opts: GatewayOptions) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let web_config = write_web_config(dir.path(), &opts);
        let ca_file = opts.tls.then(|| dir.path().join("ca.pem"));
        let mut client = reqwest::Client::builder().timeout(Duration::from_secs(5));
        if let Some(ca) = &ca_file {
            let pem = std::fs::read(ca).expect("read ca.pem");
            client =
                client.add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("ca.pem"));
        }
        let client = client.build().expect("http client");
        let scheme = if opts.tls { "https" } else { "http" };
        let mut last_log = String::new();
        // The port is free when picked but could be taken before the gateway binds it: retry.
        let attempts = if opts.port.is_some() { 1 } else { 3 };
        for attempt in 0..attempts {
            let port = opts.port.unwrap_or_else(free_port);
            let log = dir.path().join(format!("pushgateway-{attempt}.log"));
            let log_file = File::create(&log).expect("create log");
            let mut cmd = Command::new(binary());
            cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--persistence.file=")
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("log fd"))
                .stderr(log_file);
            if let Some(cfg) = &web_config {
                cmd.arg(format!("--web.config.file={}", cfg.display()));
            }
            let child = cmd.spawn().unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e}; install it (apt-get install prometheus-pushgateway) \
                     or set PUSHGATEWAY_BIN",
                    binary().display()
                )
            });
            let mut gw = PushGateway {
                child,
                url: format!("{scheme}://127.0.0.1:{port}"),
                ca_file: ca_file.clone(),
                auth: opts.basic_auth.clone(),
                client: client.clone(),
                log,
                _dir: tempfile::tempdir().expect("temp dir"),
            };
            match gw.wait_ready().await {
                Ok(()) => {
                    gw._dir = dir;
                    return gw;
                }
                Err(log) => last_log = log,
            }
        }
        panic!("the pushgateway did not start; its log:\n{last_log}");
    }

    /// Poll `/-/ready` until it answers 200; the log if the process exited or 15 s passed.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let ready = self.get("/-/ready");
        wait_ready(&mut self.child, ready, &self.log, Duration::from_secs(15)).await
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        let req = self.client.get(format!("{}{path}", self.url));
        match &self.auth {
            Some((u, p)) => req.basic_auth(u, Some(p)),
            None => req,
        }
    }

    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The gateway's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Base URL, `http://127.0.0.1:PORT` (or `https://`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The CA that signed the gateway's certificate, with TLS.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// PUT a text exposition as run `run`'s group (`/metrics/job/netbench/run/<run>`), as
    /// another client would: for series netbench itself no longer pushes, such as those of a
    /// netbench from before a label existed.
    pub async fn put_text(&self, run: &str, text: &str) {
        let url = format!("{}/metrics/job/{}/run/{run}", self.url, crate::JOB);
        let mut req = self.client.put(url).body(text.to_string());
        if let Some((u, p)) = &self.auth {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().await.expect("PUT to the pushgateway");
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "PUT run {run}: HTTP {status}: {body}");
    }

    /// Scrape the gateway's `/metrics`, as Prometheus would.
    pub async fn scrape(&self) -> Scrape {
        let resp = self
            .get("/metrics")
            .send()
            .await
            .expect("scrape the pushgateway");
        assert!(resp.status().is_success(), "scrape: HTTP {}", resp.status());
        let text = resp.text().await.expect("scrape body");
        parse_text(&text).unwrap_or_else(|e| panic!("scrape: {e}\n{text}"))
    }
}

impl Drop for PushGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `prometheus` server; killed and reaped on drop, its storage removed.
pub struct Prometheus {
    child: Child,
    url: String,
    client: reqwest::Client,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// The prometheus binary: `$PROMETHEUS_BIN`, else the Debian package's, else `prometheus`.
fn prometheus_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("PROMETHEUS_BIN") {
        return p.into();
    }
    let debian = Path::new("/usr/bin/prometheus");
    if debian.exists() {
        return debian.into();
    }
    "prometheus".into()
}

/// The `prometheus.yml` of a [`Prometheus`]: scrape and evaluate every second, one job
/// `pushgateway` with `honor_labels: true` over `targets` (`host:port`), the rule files.
pub fn prometheus_config(targets: &[&str], rule_files: &[&Path]) -> String {
    let quoted = |items: Vec<String>| {
        items
            .iter()
            .map(|t| format!("'{}'", t.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    [
        "global:".to_string(),
        "  scrape_interval: 1s".to_string(),
        "  scrape_timeout: 1s".to_string(),
        "  evaluation_interval: 1s".to_string(),
        format!(
            "rule_files: [{}]",
            quoted(rule_files.iter().map(|p| p.display().to_string()).collect())
        ),
        "scrape_configs:".to_string(),
        "  - job_name: pushgateway".to_string(),
        "    honor_labels: true".to_string(),
        "    static_configs:".to_string(),
        format!(
            "      - targets: [{}]",
            quoted(targets.iter().map(|t| t.to_string()).collect())
        ),
        String::new(),
    ]
    .join("\n")
}

impl Prometheus {
    /// Start Prometheus scraping `targets` (`host:port`, e.g. a [`PushGateway`]'s) and
    /// evaluating `rule_files`; returns once `/-/ready` answers.
    pub async fn start(targets: &[&str], rule_files: &[&Path]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, prometheus_config(targets, rule_files)).expect("write config");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client");
        let mut last_log = String::new();
        // The port is free when picked but could be taken before Prometheus binds it: retry.
        for attempt in 0..3 {
            let port = free_port();
            let log = dir.path().join(format!("prometheus-{attempt}.log"));
            let log_file = File::create(&log).expect("create log");
            let child = Command::new(prometheus_binary())
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join(format!("data-{attempt}")).display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("log fd"))
                .stderr(log_file)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start {}: {e}; install it (apt-get install prometheus) or set \
                         PROMETHEUS_BIN",
                        prometheus_binary().display()
                    )
                });
            let mut prom = Prometheus {
                child,
                url: format!("http://127.0.0.1:{port}"),
                client: client.clone(),
                log,
                _dir: tempfile::tempdir().expect("temp dir"),
            };
            match prom.wait_ready().await {
                Ok(()) => {
                    prom._dir = dir;
                    return prom;
                }
                Err(log) => last_log = log,
            }
        }
        panic!("prometheus did not start; its log:\n{last_log}");
    }

    /// Poll `/-/ready` until it answers 200; the log if the process exited or 30 s passed.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let ready = self.client.get(format!("{}/-/ready", self.url));
        wait_ready(&mut self.child, ready, &self.log, Duration::from_secs(30)).await
    }

    /// Base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET an API path (`/api/v1/alerts`) with query parameters: the JSON body when the answer
    /// is 200, else `Err` with the status and body (e.g. a PromQL parse error).
    pub async fn api(&self, path: &str, params: &[(&str, &str)]) -> Result<String, String> {
        let resp = self
            .client
            .get(format!("{}{path}", self.url))
            .query(params)
            .send()
            .await
            .map_err(|e| format!("GET {path}: {}", crate::chain(&e)))?;
        let status = resp.status();
        let body = resp
            .text()
            .await
            .map_err(|e| format!("GET {path}: body: {e}"))?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(format!("GET {path}: HTTP {status}: {body}"))
        }
    }

    /// An instant query (`/api/v1/query`) at the server's current time: the JSON body.
    pub async fn query(&self, expr: &str) -> Result<String, String> {
        self.api("/api/v1/query", &[("query", expr)]).await
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `--web.config.file` for `opts`, with its certificates, or `None` when plain HTTP.
fn write_web_config(dir: &Path, opts: &GatewayOptions) -> Option<PathBuf> {
    if opts.basic_auth.is_none() && !opts.tls {
        return None;
    }
    let mut yaml = String::new();
    if opts.tls {
        let (ca, cert, key) = make_certs();
        std::fs::write(dir.join("ca.pem"), ca).expect("write ca.pem");
        std::fs::write(dir.join("server.pem"), cert).expect("write server.pem");
        std::fs::write(dir.join("server.key"), key).expect("write server.key");
        yaml.push_str(&format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            dir.join("server.pem").display(),
            dir.join("server.key").display()
        ));
    }
    if let Some((user, password)) = &opts.basic_auth {
        // Cost 4, the minimum: fast, and only ever a test password.
        let hash = bcrypt::hash(password, 4).expect("bcrypt");
        yaml.push_str(&format!("basic_auth_users:\n  {user}: '{hash}'\n"));
    }
    let path = dir.join("web.yml");
    std::fs::write(&path, yaml).expect("write web.yml");
    Some(path)
}

/// A fresh CA, and a server certificate for 127.0.0.1 and localhost signed by it (PEM: CA,
/// certificate, key).
fn make_certs() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "netbench test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let key = KeyPair::generate().expect("server key");
    let params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("server params");
    let cert = params
        .signed_by(&key, &ca, &ca_key)
        .expect("server certificate");
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// Send `ready` (a request to a daemon's `/-/ready`) until it answers 200; the daemon's log if
/// it exited first or `limit` passed. The PushGateway's and Prometheus's start-up share it.
async fn wait_ready(
    child: &mut std::process::Child,
    ready: reqwest::RequestBuilder,
    log: &std::path::Path,
    limit: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    let log = || std::fs::read_to_string(log).unwrap_or_default();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status}:\n{}", log()));
        }
        if Instant::now() > deadline {
            return Err(format!("not ready after {limit:?}:\n{}", log()));
        }
        let answered = ready
            .try_clone()
            .expect("a GET without a streaming body clones")
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if answered {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_escapes_and_special_values() {
        let s = parse_text(
            "# HELP a_b Some help.\n# TYPE a_b gauge\n\
             a_b{x=\"1\",y=\"q\\\"uo\\\\te\\n\"} 1.5e+06\n\
             c 7 1700000000\nd{le=\"+Inf\"} +Inf\n",
        )
        .unwrap();
        assert_eq!(s.samples.len(), 3);
        assert_eq!(s.samples[0].labels["y"], "q\"uo\\te\n");
        assert_eq!(s.samples[0].value, 1.5e6);
        assert_eq!(s.samples[1].value, 7.0);
        assert_eq!(s.samples[2].value, f64::INFINITY);
        assert_eq!(s.help["a_b"], "Some help.");
        assert!(parse_text("x{a=1} 2").is_err());
        assert!(parse_text("x{a=\"1\"} two").is_err());
    }

    #[test]
    fn prometheus_config_quotes_targets_and_rule_files() {
        let c = prometheus_config(&["127.0.0.1:9091"], &[Path::new("/tmp/it's.yaml")]);
        assert!(c.contains("rule_files: ['/tmp/it''s.yaml']"), "{c}");
        assert!(c.contains("honor_labels: true"), "{c}");
        assert!(
            c.contains("    static_configs:\n      - targets: ['127.0.0.1:9091']"),
            "{c}"
        );
    }
}
