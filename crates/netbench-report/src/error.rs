//! The one error type of this crate.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} is not a netbench results file: {source}. Pass the JSON file that \
         `netbench local --results` or `netbench orchestrator --results` wrote",
        path.display()
    )]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "the results mix benchmarks ({0}); a report covers one benchmark: split the file per benchmark"
    )]
    MixedBenchmarks(String),
    #[error(
        "cannot compare {base} with {new}: they are different benchmarks. Compare two runs of the same benchmark"
    )]
    DifferentBenchmarks { base: String, new: String },
    #[error(
        "the files hold several entries ({0}); compare them with `compare_all` (`netbench compare` compares each)"
    )]
    SeveralEntries(String),
    #[error(
        "the results hold several paths ({0}); a single report covers one path: use `Report::build_all` \
         (`netbench report` gives one section per path)"
    )]
    SeveralPaths(String),
    #[error("no metric {name:?} in either file; metrics there: {known}")]
    UnknownMetric { name: String, known: String },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Bus(#[from] netbench_bus::BusError),
    #[error("cannot follow the NETBENCH stream: {0}")]
    Follow(String),
}
