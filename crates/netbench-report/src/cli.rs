//! The `watch`, `report` and `compare` subcommands: clap flags and thin shells returning the
//! process exit code. The `netbench` binary wires each in with one enum variant.
//!
//! Exit codes: 0 fine; 1 `compare` found a regression; 2 bad flags or an unreadable/invalid
//! input file (or an output file that cannot be written); 3 NATS unreachable (`watch`).

use crate::compare;
use crate::model::Report;
use crate::{html, render, watch};
use clap::{Args, ValueEnum};
use netbench_bus::NatsArgs;
use netbench_proto::{ExitCode, RunId};
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

pub const OK: u8 = ExitCode::OK as u8;
pub const REGRESSION: u8 = ExitCode::REGRESSION as u8;
pub const USAGE: u8 = ExitCode::Usage as u8;
pub const UNREACHABLE: u8 = ExitCode::RunFailed as u8;

/// How to reach NATS (same flags and variables as the other subcommands).
#[derive(Debug, Clone, Args)]
pub struct NatsFlags {
    /// NATS server URL.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// NATS user name (read-only observer credentials are enough).
    #[arg(long, env = "NATS_USER")]
    pub nats_user: Option<String>,
    /// NATS password.
    #[arg(long, env = "NATS_PASSWORD", hide_env_values = true)]
    pub nats_password: Option<String>,
    /// CA certificate the NATS server's TLS certificate must chain to (turns TLS on).
    #[arg(long, env = "NATS_CA")]
    pub nats_ca: Option<PathBuf>,
    /// NATS credentials file (user JWT and NKey seed, from `nsc generate creds`), for a server
    /// in operator mode.
    #[arg(long, env = "NATS_CREDS", value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,
    /// File with a user NKey seed (SU…), for a server that lists nkey users.
    #[arg(long, env = "NATS_NKEY", value_name = "FILE")]
    pub nats_nkey: Option<PathBuf>,
    /// NATS token, for a server with `authorization { token: … }`.
    #[arg(long, env = "NATS_TOKEN", hide_env_values = true)]
    pub nats_token: Option<String>,
}

impl NatsFlags {
    pub fn args(&self) -> NatsArgs {
        NatsArgs {
            connect_wait: Default::default(),
            url: self.nats_url.clone(),
            user: self.nats_user.clone(),
            password: self.nats_password.clone(),
            tls_ca: self.nats_ca.clone(),
            creds: self.nats_creds.clone(),
            nkey: self.nats_nkey.clone(),
            token: self.nats_token.clone(),
            store: Default::default(),
        }
    }
}

/// Which stream and bucket (the same flags on `orchestrator`, `local`, `watch`): several teams
/// can keep their runs apart in one NATS account, or use a stream their NATS admin made.
#[derive(Debug, Clone, Args)]
pub struct StoreFlags {
    /// JetStream stream of the results and events (created when missing; an existing one is
    /// used as it is, or refused when it cannot hold the results: never changed).
    #[arg(long, env = "NETBENCH_STREAM", default_value = "NETBENCH", value_parser = js_name)]
    pub stream: String,
    /// JetStream key-value bucket of the run states.
    #[arg(long, env = "NETBENCH_KV_BUCKET", default_value = "NETBENCH_RUNS", value_parser = js_name)]
    pub kv_bucket: String,
    /// Replicas of the stream and bucket when they are created (3 on a NATS cluster of 3).
    #[arg(long, env = "NETBENCH_STREAM_REPLICAS", default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..=5))]
    pub stream_replicas: u8,
}

impl StoreFlags {
    pub fn config(&self) -> netbench_bus::jetstream::StoreConfig {
        netbench_bus::jetstream::StoreConfig {
            stream: self.stream.clone(),
            bucket: self.kv_bucket.clone(),
            replicas: self.stream_replicas.into(),
        }
    }
}

fn js_name(s: &str) -> Result<String, String> {
    let cfg = netbench_bus::jetstream::StoreConfig {
        stream: s.into(),
        ..Default::default()
    };
    cfg.validate()
        .map(|_| s.to_string())
        .map_err(|e| e.trim_start_matches("--stream ").to_string())
}

fn run_id(s: &str) -> Result<RunId, String> {
    s.parse()
        .map_err(|e: netbench_proto::ids::InvalidId| e.to_string())
}

/// `netbench watch`: replay the NETBENCH stream, then follow live results and events.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub nats: NatsFlags,
    #[command(flatten)]
    pub store: StoreFlags,
    /// Only this run (default: every run).
    #[arg(long, env = "NETBENCH_RUN", value_parser = run_id)]
    pub run: Option<RunId>,
    /// Exit once what the stream holds has been shown (don't follow).
    #[arg(long)]
    pub no_follow: bool,
    /// Exit after the run's `run finished` / `run failed` event (needs --run).
    #[arg(long, requires = "run")]
    pub until_done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Csv,
    Json,
    Markdown,
}

/// `netbench report`: tables, node matrix and zone summary of a results file.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// The results file (`netbench local --results`, `netbench orchestrator --results`).
    pub results: PathBuf,
    /// Output format on stdout. CSV is the per-pair table in base units; JSON the whole report.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Also write one self-contained HTML page (heatmap, tables, run metadata) here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Terminal width for the text report (default: $COLUMNS, else 80). A node matrix wider
    /// than this is replaced by the per-zone-pair summary and the best and worst pairs.
    #[arg(long, value_name = "COLUMNS", value_parser = clap::value_parser!(u16).range(20..))]
    pub width: Option<u16>,
    /// How many best and worst pairs that summary lists.
    #[arg(long, value_name = "N", default_value_t = render::DEFAULT_TOP as u16)]
    pub top: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    Text,
    Json,
    Markdown,
}

/// `netbench compare`: each pair's metrics, NEW against BASE; exit 1 on a regression.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The reference results file.
    pub base: PathBuf,
    /// The results file to judge.
    pub new: PathBuf,
    /// How much worse than BASE a metric may get before it counts as a regression.
    #[arg(long, default_value = "10%", value_parser = compare::parse_tolerance)]
    pub tolerance: f64,
    /// Judge only this metric (repeatable; default: every metric).
    #[arg(long = "metric", value_name = "NAME")]
    pub metrics: Vec<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: CompareFormat,
}

fn print(s: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

pub async fn run_watch(args: WatchArgs, shutdown: CancellationToken) -> u8 {
    let opts = watch::WatchOptions {
        nats: NatsArgs {
            store: args.store.config(),
            ..args.nats.args()
        },
        run: args.run,
        replay_only: args.no_follow,
        until_done: args.until_done,
    };
    let out = |o: watch::Output| match o {
        watch::Output::Header(h) => print(&format!("{h}\n")),
        watch::Output::Row { text, .. } => print(&format!("{text}\n")),
        watch::Output::Notice(n) => eprintln!("{n}"),
    };
    match watch::watch(&opts, out, shutdown).await {
        Ok(_) => OK,
        Err(e) => {
            eprintln!("error: {e}");
            UNREACHABLE
        }
    }
}

/// One report per entry of the file (one for a file of one benchmark).
fn load_report(path: &Path) -> Result<Vec<Report>, crate::ReportError> {
    Report::build_all(&crate::load(path)?)
}

pub fn run_report(args: ReportArgs) -> u8 {
    let report = match load_report(&args.results) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    if let Some(path) = &args.html {
        if let Err(e) = std::fs::write(path, html::page_all(&report)) {
            eprintln!(
                "error: {}",
                crate::ReportError::Write {
                    path: path.clone(),
                    source: e
                }
            );
            return USAGE;
        }
        eprintln!("wrote {}", path.display());
    }
    let mut opts = render::TextOptions::from_env();
    if let Some(w) = args.width {
        opts.width = usize::from(w);
    }
    opts.top = usize::from(args.top);
    print(&match args.format {
        Format::Text => render::text_all(&report, &opts),
        Format::Csv => render::csv_all(&report),
        Format::Json => render::json_all(&report),
        Format::Markdown => render::markdown_all(&report),
    });
    OK
}

pub fn run_compare(args: CompareArgs) -> u8 {
    let files = crate::load(&args.base).and_then(|b| Ok((b, crate::load(&args.new)?)));
    let comparison =
        files.and_then(|(b, n)| compare::compare_all(&b, &n, args.tolerance, &args.metrics));
    let c = match comparison {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    // Text and Markdown open with the warning; JSON carries `load_differs` and says it here.
    if args.format == CompareFormat::Json {
        for e in &c.entries {
            let warnings = [compare::load_warning(e), compare::too_few_note(e)];
            for w in warnings.into_iter().flatten() {
                eprintln!("{w}");
            }
        }
    }
    print(&match args.format {
        CompareFormat::Text => compare::text_all(&c),
        CompareFormat::Json => compare::json_all(&c),
        CompareFormat::Markdown => compare::markdown_all(&c),
    });
    if c.regressions > 0 {
        REGRESSION
    } else {
        OK
    }
}
