//! Finding catalogue programs on PATH, without a shell.

use std::path::PathBuf;

/// PATH given to every tool: the standard system directories only, so that a writable
/// directory earlier in the worker's own PATH cannot shadow a tool.
pub const TOOL_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Full path of `program` in [`TOOL_PATH`] (or in `extra` directories first), if executable.
pub fn locate(program: &str, extra: &[PathBuf]) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    extra
        .iter()
        .cloned()
        .chain(std::env::split_paths(TOOL_PATH))
        .map(|dir| dir.join(program))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// The catalogue programs present, sorted.
pub fn available(extra: &[PathBuf]) -> Vec<String> {
    netbench_bench::allow::allowed_programs()
        .into_iter()
        .filter(|p| locate(p, extra).is_some())
        .map(str::to_string)
        .collect()
}

/// The Debian package that provides a catalogue program, for error messages.
pub fn install_hint(program: &str) -> &'static str {
    match program {
        "iperf3" => "apt-get install iperf3",
        "netperf" | "netserver" => "apt-get install netperf (Debian non-free)",
        "qperf" => "apt-get install qperf",
        "fortio" => "copy fortio from its official image (see docker/worker.Dockerfile)",
        _ => "install it",
    }
}
