//! Results people can read.
//!
//! Pure cores (a [`netbench_proto::ResultsFile`] in, tables out, no I/O) and thin shells:
//!
//! - [`model`]: the report of one run: one row per pair, the node×node matrix of the
//!   benchmark's headline metric (client rows, server columns), the intra-/cross-zone summary
//!   and the failed pairs with their reason.
//! - [`units`]: values in the units people read (Gbit/s, µs/ms, /s).
//! - [`render`]: the report as text, CSV, JSON and Markdown; [`summary_text`] for the end of
//!   `netbench local`.
//! - [`html`]: one self-contained HTML page with a heatmap of the matrix: SVG cells up to 30
//!   nodes, one palette image (zone boundaries, a hover title per zone pair) up to 1,000.
//! - Pairs carry `concurrent_pairs`: the header shows the run's plan and concurrency, figures
//!   taken under load are marked, and `compare` warns when it sets serial figures against
//!   figures under load.
//! - [`compare`]: two runs matched pair by pair (client and server node), each metric's delta
//!   judged against a tolerance in the direction the catalogue says is better; with samples, a
//!   Mann–Whitney U test decides whether a change is more than noise. Entries of several
//!   benchmarks match by benchmark and parameters.
//! - [`stats`]: medians, distribution-free intervals for them and the Mann–Whitney U test, for
//!   `--samples K` (pure, hand-checked in its tests).
//! - Several entries in one file (`--benchmark a,b`, suites): [`Report::build_all`] gives a
//!   report per entry; the `*_all` renderers put them one after another.
//! - Paths (`--paths pod,host,service,same-node`): a report per path of each entry, and
//!   [`relative`]: the other paths against `host` per node pair, with one summary line per path
//!   (`pod network vs host network: median ratio 0.62 [95% CI 0.55–0.70] over 6 pairs`).
//!   `compare` matches pairs by path too: a pod figure is never set against a host one.
//! - [`watch`]: `netbench watch`: replays the `NETBENCH` stream with an ordered consumer (read-only
//!   rights suffice) and follows live results and events as a growing table.
//! - [`cli`]: the clap `Args` and `run_*` entry points wired into the `netbench` binary.

pub mod cli;
pub mod compare;
mod error;
pub mod html;
pub mod model;
pub mod relative;
pub mod render;
pub mod stats;
pub mod units;
pub mod watch;

pub use error::ReportError;
pub use model::Report;
pub use render::summary_text;

/// Read and parse a results file.
pub fn load(path: &std::path::Path) -> Result<netbench_proto::ResultsFile, ReportError> {
    let text = std::fs::read(path).map_err(|source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut file: netbench_proto::ResultsFile =
        serde_json::from_slice(&text).map_err(|source| ReportError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
    for r in &mut file.results {
        for side in [&mut r.task.client, &mut r.task.server] {
            for text in [
                &mut side.worker,
                &mut side.vm.hostname,
                &mut side.vm.availability_zone,
            ] {
                escape_controls(text);
            }
        }
    }
    Ok(file)
}

/// Names come from the file, and reports go to terminals: a control character (an escape
/// sequence, a carriage return) is shown as `\u{…}`, never sent.
pub fn escape_controls(text: &mut String) {
    if text.chars().any(char::is_control) {
        *text = text
            .chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect();
    }
}
