//! The benchmark catalogue and everything derived from it, without I/O.
//!
//! - [`catalogue`]: the one table of benchmarks ([`CATALOGUE`]). Each entry has its server and
//!   client command templates, pinned ports, metrics (name + unit) and parser. Adding a benchmark
//!   is adding one entry there.
//! - [`allow`]: the allow-list, derived from the table: rendering a command from its template and
//!   checking that a task's command is exactly that rendering.
//! - [`parse`]: one parser per tool output format, run on real captured outputs in tests.
//! - [`measure`]: turns a client's outcome into a [`netbench_proto::Status`] and metrics.

pub mod allow;
pub mod catalogue;
pub mod flags;
pub mod measure;
pub mod params;
pub mod parse;

pub use allow::{render, validate, Rejection, Role};
pub use catalogue::{find, names, Benchmark, MetricDef, Port, Template, CATALOGUE};
pub use measure::{measure, Measurement};
pub use params::Param;
pub use parse::ParseError;
