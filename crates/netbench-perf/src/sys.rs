//! What the machine is and how busy it is, from `/proc` (parsers are pure and tested).

use serde::Serialize;

/// The machine the figures were taken on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu_model: String,
    pub vcpus: usize,
    pub kernel: String,
    pub memory_gib: f64,
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Machine {
            cpu_model: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".into()),
            vcpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
            memory_gib: status_kib(&meminfo, "MemTotal:").unwrap_or(0) as f64 / 1024.0 / 1024.0,
        }
    }
}

/// `model name` of the first CPU in `/proc/cpuinfo`.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

/// The three load averages of `/proc/loadavg`.
pub fn parse_loadavg(s: &str) -> Option<[f64; 3]> {
    let mut it = s.split_whitespace().map(|x| x.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// The load averages now (zeros when unreadable).
pub fn loadavg() -> [f64; 3] {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| parse_loadavg(&s))
        .unwrap_or([0.0; 3])
}

/// A `Key:   1234 kB` line of `/proc/PID/status` or `/proc/meminfo`, in KiB.
pub fn status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Resident memory of a process: (VmRSS, VmHWM) in MiB.
pub fn rss_mib(pid: u32) -> Option<(f64, f64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mib = |k| status_kib(&s, k).map(|v| v as f64 / 1024.0);
    Some((mib("VmRSS:")?, mib("VmHWM:")?))
}

/// Raise this process's soft limit on open files to its hard limit (children inherit it: the
/// nats-server the harness starts, the simulated workers). Returns (soft, hard) afterwards.
pub fn raise_nofile() -> (u64, u64) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return (0, 0);
    };
    // An unlimited hard limit: the kernel's own cap on a soft one is fs.nr_open.
    let target = match hard {
        nix::sys::resource::RLIM_INFINITY => std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(soft),
        h => h,
    };
    if soft < target && setrlimit(Resource::RLIMIT_NOFILE, target, hard).is_ok() {
        return (target, hard);
    }
    (soft, hard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        assert_eq!(
            parse_loadavg("0.52 1.20 2.00 3/155 1234\n"),
            Some([0.52, 1.2, 2.0])
        );
        assert_eq!(parse_loadavg("garbage"), None);
        let status = "Name:\tnetbench\nVmHWM:\t   9000 kB\nVmRSS:\t    6144 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(6144));
        assert_eq!(status_kib(status, "VmSwap:"), None);
        assert_eq!(
            cpu_model("processor\t: 0\nmodel name\t: AMD EPYC\nflags : x\n").as_deref(),
            Some("AMD EPYC")
        );
    }

    #[test]
    fn reads_this_process() {
        let (rss, hwm) = rss_mib(std::process::id()).unwrap();
        assert!(rss > 0.0 && hwm >= rss);
        assert!(Machine::read().vcpus >= 1);
    }

    #[test]
    fn the_open_files_limit_is_raised_to_the_hard_limit() {
        use nix::sys::resource::{getrlimit, Resource};
        let before = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        let (soft, hard) = raise_nofile();
        assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap(), (soft, hard));
        assert!(
            soft >= before.0 && hard == before.1,
            "{before:?} -> {soft} {hard}"
        );
        // Only an unlimited hard limit (which a soft limit on files cannot take) stays above.
        assert!(soft == hard || hard == nix::sys::resource::RLIM_INFINITY);
        assert!(soft > 0);
    }
}
