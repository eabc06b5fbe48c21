//! The benchmark catalogue: one table, one entry per benchmark.
//!
//! Template arguments may contain these placeholders, filled by [`crate::allow::render`]:
//! - `{server_ip}`: the server worker's IP as is (`198.18.0.2`, `fd00::2`);
//! - `{server_host}`: the same, bracketed if IPv6, for URLs (`[fd00::2]`);
//! - `{duration}`: the test length in whole seconds;
//! - `{streams=1}`, `{?message_size -l}` and the like: the benchmark parameters, see
//!   [`crate::params`]. Which placeholders a template has is which parameters it takes.
//!
//! Every port is pinned, including the data ports netperf and qperf would otherwise pick at
//! random, so that Services, NetworkPolicies and service meshes can be set up for them.

use crate::params::{self, Param};
use crate::parse::{self, ParseError};
use netbench_proto::{Parameters, Unit};

/// A command: a program (looked up on PATH, never through a shell) and its argument template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    pub program: &'static str,
    pub args: &'static [&'static str],
}

/// A TCP port the server side listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    pub number: u16,
    /// Short name, usable as a Kubernetes port name (≤ 15 chars).
    pub name: &'static str,
    /// True for the port that proves the server is ready (listening before any client comes).
    pub ready_probe: bool,
    /// True if the same port number also carries UDP data (iperf3 -u, netperf UDP_*): Services
    /// and NetworkPolicies then need it for UDP as well as TCP.
    pub udp: bool,
}

/// The ports of several benchmarks, each number once (the first benchmark's name), carrying UDP
/// where any of them sends UDP on it: what a Service, a NetworkPolicy or a DNAT rule must open.
pub fn merge_ports<'a>(ports: impl IntoIterator<Item = &'a Port>) -> Vec<Port> {
    let mut out: Vec<Port> = Vec::new();
    for p in ports {
        match out.iter_mut().find(|q| q.number == p.number) {
            Some(q) => q.udp |= p.udp,
            None => out.push(*p),
        }
    }
    out
}

/// Which way is better, for comparisons and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

/// A metric a benchmark produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    pub name: &'static str,
    pub unit: Unit,
    pub better: Better,
    pub help: &'static str,
}

/// A parser: the client's stdout in, `(metric name, value)` pairs out (in the units of the
/// benchmark's [`MetricDef`]s), or why there are none.
pub type Parser = fn(&str) -> Result<Vec<(&'static str, f64)>, ParseError>;

#[derive(Debug, Clone, Copy)]
pub struct Benchmark {
    pub name: &'static str,
    pub description: &'static str,
    pub server: Template,
    pub client: Template,
    pub ports: &'static [Port],
    /// How many tests of `{duration}` the client runs back to back (qperf runs two).
    pub tests_per_run: u32,
    pub parse: Parser,
    pub metrics: &'static [MetricDef],
    /// The metric shown in progress lines and matrices.
    pub headline: &'static str,
}

impl Benchmark {
    /// Hard timeout for the client: the tests' own time plus room for connection setup.
    pub fn timeout_seconds(&self, duration_seconds: u32) -> u64 {
        let own = u64::from(duration_seconds) * u64::from(self.tests_per_run);
        own + 15 + own / 2
    }
    pub fn ready_port(&self) -> u16 {
        self.ports
            .iter()
            .find(|p| p.ready_probe)
            .map(|p| p.number)
            .expect("every catalogue entry has a ready_probe port")
    }
    pub fn metric(&self, name: &str) -> Option<&'static MetricDef> {
        self.metrics.iter().find(|m| m.name == name)
    }
    /// The parameters its templates take (`--streams`, `--message-size`, `--rate`).
    pub fn takes(&self) -> Vec<Param> {
        let mut v: Vec<Param> = self
            .server
            .args
            .iter()
            .chain(self.client.args)
            .flat_map(|a| params::placeholders(a))
            .map(|ph| match ph {
                params::Placeholder::WithDefault { param, .. }
                | params::Placeholder::Optional { param, .. } => param,
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
    /// True if its client sends UDP data (a port is marked for it).
    pub fn udp(&self) -> bool {
        self.ports.iter().any(|p| p.udp)
    }
    /// The range a parameter's value must be in for this benchmark.
    pub fn range(&self, param: Param) -> (u64, u64) {
        match param {
            Param::Streams => (1, params::MAX_STREAMS.into()),
            Param::MessageSize if self.udp() => (1, params::MAX_MESSAGE_SIZE_UDP.into()),
            Param::MessageSize => (1, params::MAX_MESSAGE_SIZE_TCP.into()),
            Param::Rate => (0, params::MAX_RATE),
        }
    }
    /// Why these parameters cannot be used with this benchmark, if they cannot: one it does not
    /// take, or a value out of range. The message names the flag and what to do.
    pub fn check_parameters(&self, p: &Parameters) -> Result<(), String> {
        let takes = self.takes();
        for param in Param::ALL {
            let Some(v) = param.get(p) else { continue };
            if !takes.contains(&param) {
                let which = CATALOGUE
                    .iter()
                    .filter(|b| b.takes().contains(&param))
                    .map(|b| b.name)
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(format!(
                    "{} does not take {}: leave it out, or choose a benchmark that does ({which})",
                    self.name,
                    param.flag()
                ));
            }
            let (lo, hi) = self.range(param);
            if v < lo || v > hi {
                return Err(format!(
                    "{} {v} is outside {lo}..={hi} for {}",
                    param.flag(),
                    self.name
                ));
            }
        }
        Ok(())
    }
    /// The parameters a command ran with: the given ones over the template's defaults.
    pub fn effective_parameters(&self, given: &Parameters) -> Parameters {
        let d = params::defaults(self.client.args.iter().chain(self.server.args));
        Parameters {
            streams: given.streams.or(d.streams),
            message_size: given.message_size.or(d.message_size),
            rate: given.rate.or(d.rate),
        }
    }
    /// The programs this benchmark runs (server, then client).
    pub fn programs(&self) -> [&'static str; 2] {
        [self.server.program, self.client.program]
    }
}

const fn metric(name: &'static str, unit: Unit, better: Better, help: &'static str) -> MetricDef {
    MetricDef {
        name,
        unit,
        better,
        help,
    }
}

const fn port(number: u16, name: &'static str, ready_probe: bool) -> Port {
    Port {
        number,
        name,
        ready_probe,
        udp: false,
    }
}

/// A port that carries UDP data too (see [`Port::udp`]).
const fn udp_port(number: u16, name: &'static str, ready_probe: bool) -> Port {
    Port {
        udp: true,
        ..port(number, name, ready_probe)
    }
}

use Better::{Higher, Lower};
use Unit::{BytesPerSecond, Count, PerSecond, Seconds};

const NETPERF_SERVER: Template = Template {
    program: "netserver",
    args: &["-D", "-4", "-p", "12865"],
};
const NETPERF_PORTS: &[Port] = &[
    port(12865, "netperf-ctl", true),
    port(12866, "netperf-data", false),
];
/// netperf UDP_RR and UDP_STREAM: control on TCP 12865, data on UDP 12866.
const NETPERF_UDP_PORTS: &[Port] = &[
    port(12865, "netperf-ctl", true),
    udp_port(12866, "netperf-data", false),
];
/// The `-k` output selectors of the netperf request/response tests (TCP_RR, TCP_CRR, UDP_RR).
const NETPERF_RR_KEYS: &str =
    "TRANSACTION_RATE,MIN_LATENCY,MEAN_LATENCY,P50_LATENCY,P90_LATENCY,P99_LATENCY,MAX_LATENCY,LOCAL_CPU_UTIL,REMOTE_CPU_UTIL";
const FORTIO_SERVER: Template = Template {
    program: "fortio",
    args: &[
        "server",
        "-http-port",
        "8080",
        "-tcp-port",
        "8078",
        "-udp-port",
        "disabled",
        "-grpc-port",
        "disabled",
        "-redirect-port",
        "disabled",
        // No web UI (an empty path turns it off): only the echo servers the benchmarks use.
        "-ui-path",
        "",
    ],
};
const FORTIO_PORTS: &[Port] = &[
    port(8080, "fortio-http", true),
    port(8078, "fortio-tcp", false),
];
const FORTIO_METRICS: &[MetricDef] = &[
    metric(
        "request_rate",
        PerSecond,
        Higher,
        "Requests per second, failed ones included (fortio ActualQPS); see errors.",
    ),
    metric("latency_mean", Seconds, Lower, "Mean request latency."),
    metric("latency_p50", Seconds, Lower, "Median request latency."),
    metric(
        "latency_p90",
        Seconds,
        Lower,
        "90th percentile request latency.",
    ),
    metric(
        "latency_p99",
        Seconds,
        Lower,
        "99th percentile request latency.",
    ),
    metric(
        "latency_p999",
        Seconds,
        Lower,
        "99.9th percentile request latency.",
    ),
    metric("requests", Count, Higher, "Requests sent."),
    metric(
        "errors",
        Count,
        Lower,
        "Requests that failed (connection errors, non-2xx).",
    ),
];

const IPERF3_CPU_CLIENT: MetricDef = metric(
    "cpu_client_percent",
    Count,
    Lower,
    "CPU the client tool used, percent of one CPU (iperf3 cpu_utilization_percent.host_total); near 100 x streams means CPU-bound.",
);
const IPERF3_CPU_SERVER: MetricDef = metric(
    "cpu_server_percent",
    Count,
    Lower,
    "CPU the server tool used, percent of one CPU (iperf3 cpu_utilization_percent.remote_total).",
);

const NETPERF_CPU_CLIENT: MetricDef = metric(
    "cpu_client_system_percent",
    Count,
    Lower,
    "CPU busy on the client's machine during the test, percent of all its CPUs (netperf -c, LOCAL_CPU_UTIL: system-wide, not the tool alone).",
);
const NETPERF_CPU_SERVER: MetricDef = metric(
    "cpu_server_system_percent",
    Count,
    Lower,
    "CPU busy on the server's machine during the test, percent of all its CPUs (netperf -C, REMOTE_CPU_UTIL).",
);

/// The catalogue. Order is the order of `--help` and the README.
pub const CATALOGUE: &[Benchmark] = &[
    Benchmark {
        name: "iperf3-tcp",
        description: "TCP bulk throughput with iperf3 (one stream; --streams, --message-size).",
        server: Template { program: "iperf3", args: &["-s", "-p", "5201"] },
        client: Template {
            program: "iperf3",
            args: &["-c", "{server_ip}", "-p", "5201", "-t", "{duration}", "{?streams -P}", "{?message_size -l}", "-J"],
        },
        ports: &[port(5201, "iperf3", true)],
        tests_per_run: 1,
        parse: parse::iperf3::parse,
        metrics: &[
            metric("throughput_received", BytesPerSecond, Higher, "Bytes per second received by the server."),
            metric("throughput_sent", BytesPerSecond, Higher, "Bytes per second sent by the client."),
            metric("retransmits", Count, Lower, "TCP retransmits seen by the sender."),
            metric("rtt_mean", Seconds, Lower, "Mean TCP round-trip time seen by the sender."),
            IPERF3_CPU_CLIENT,
            IPERF3_CPU_SERVER,
        ],
        headline: "throughput_received",
    },
    Benchmark {
        name: "netperf-tcp-rr",
        description: "TCP request/response (1 byte each way) with netperf TCP_RR: transaction rate and latency.",
        server: NETPERF_SERVER,
        client: Template {
            program: "netperf",
            args: &[
                "-H", "{server_ip}", "-p", "12865", "-t", "TCP_RR", "-l", "{duration}", "-j", "-c", "-C", "-P", "0", "--",
                "-P", ",12866", "{?message_size -r}", "-k", NETPERF_RR_KEYS,
            ],
        },
        ports: NETPERF_PORTS,
        tests_per_run: 1,
        parse: parse::netperf::parse_rr,
        metrics: &[
            metric("transaction_rate", PerSecond, Higher, "Request/response transactions per second."),
            metric("latency_min", Seconds, Lower, "Minimum round-trip latency of a transaction."),
            metric("latency_mean", Seconds, Lower, "Mean round-trip latency of a transaction."),
            metric("latency_p50", Seconds, Lower, "Median round-trip latency of a transaction."),
            metric("latency_p90", Seconds, Lower, "90th percentile round-trip latency."),
            metric("latency_p99", Seconds, Lower, "99th percentile round-trip latency."),
            metric("latency_max", Seconds, Lower, "Maximum round-trip latency of a transaction."),
            NETPERF_CPU_CLIENT,
            NETPERF_CPU_SERVER,
        ],
        headline: "transaction_rate",
    },
    Benchmark {
        name: "netperf-tcp-stream",
        description: "TCP bulk throughput with netperf TCP_STREAM, 128 KiB sends.",
        server: NETPERF_SERVER,
        client: Template {
            program: "netperf",
            args: &[
                "-H", "{server_ip}", "-p", "12865", "-t", "TCP_STREAM", "-l", "{duration}", "-c", "-C", "-P", "0", "--",
                "-P", ",12866", "-m", "{message_size=131072}", "-k", "THROUGHPUT,THROUGHPUT_UNITS,LOCAL_CPU_UTIL,REMOTE_CPU_UTIL",
            ],
        },
        ports: NETPERF_PORTS,
        tests_per_run: 1,
        parse: parse::netperf::parse_stream,
        metrics: &[
            metric("throughput", BytesPerSecond, Higher, "Bytes per second, as netperf measured it."),
            NETPERF_CPU_CLIENT,
            NETPERF_CPU_SERVER,
        ],
        headline: "throughput",
    },
    Benchmark {
        name: "qperf-tcp",
        description: "TCP bandwidth and one-way latency with qperf (tcp_bw, then tcp_lat).",
        server: Template { program: "qperf", args: &["-lp", "19765"] },
        client: Template {
            program: "qperf",
            args: &["{server_ip}", "-lp", "19765", "-ip", "19766", "-t", "{duration}", "-ub", "-uu", "{?message_size -m}", "tcp_bw", "tcp_lat"],
        },
        ports: &[port(19765, "qperf-ctl", true), port(19766, "qperf-data", false)],
        tests_per_run: 2,
        parse: parse::qperf::parse,
        metrics: &[
            metric("throughput", BytesPerSecond, Higher, "Bytes per second (qperf tcp_bw)."),
            metric("latency_one_way", Seconds, Lower, "ONE-WAY latency, half the round trip (qperf tcp_lat)."),
        ],
        headline: "throughput",
    },
    Benchmark {
        name: "fortio-tcp",
        description: "TCP echo request/response with fortio at maximum rate, one connection (--streams).",
        server: FORTIO_SERVER,
        client: Template {
            program: "fortio",
            args: &[
                "load", "-qps", "0", "-c", "{streams=1}", "-t", "{duration}s", "-r", "0.00001", "-p", "50,90,99,99.9",
                "-json", "-", "tcp://{server_host}:8078",
            ],
        },
        ports: FORTIO_PORTS,
        tests_per_run: 1,
        parse: parse::fortio::parse,
        metrics: FORTIO_METRICS,
        headline: "request_rate",
    },
    Benchmark {
        name: "fortio-http",
        description: "HTTP/1.1 requests with fortio at maximum rate, one connection (--streams).",
        server: FORTIO_SERVER,
        client: Template {
            program: "fortio",
            args: &[
                "load", "-qps", "0", "-c", "{streams=1}", "-t", "{duration}s", "-r", "0.00001", "-p", "50,90,99,99.9",
                "-json", "-", "http://{server_host}:8080/echo",
            ],
        },
        ports: FORTIO_PORTS,
        tests_per_run: 1,
        parse: parse::fortio::parse,
        metrics: FORTIO_METRICS,
        headline: "request_rate",
    },
    Benchmark {
        name: "netperf-tcp-crr",
        description: "TCP connect/request/response/close (1 byte each way, a new connection per transaction) with netperf TCP_CRR: rate and latency.",
        server: NETPERF_SERVER,
        client: Template {
            program: "netperf",
            args: &[
                "-H", "{server_ip}", "-p", "12865", "-t", "TCP_CRR", "-l", "{duration}", "-j", "-c", "-C", "-P", "0", "--",
                "-P", ",12866", "{?message_size -r}", "-k", NETPERF_RR_KEYS,
            ],
        },
        ports: NETPERF_PORTS,
        tests_per_run: 1,
        parse: parse::netperf::parse_crr,
        metrics: &[
            metric("transaction_rate", PerSecond, Higher, "Transactions per second (for TCP_CRR each is connect, request, response, close)."),
            metric("latency_min", Seconds, Lower, "Minimum latency of a transaction."),
            metric("latency_mean", Seconds, Lower, "Mean latency of a transaction."),
            metric("latency_p50", Seconds, Lower, "Median latency of a transaction."),
            metric("latency_p90", Seconds, Lower, "90th percentile latency of a transaction."),
            metric("latency_p99", Seconds, Lower, "99th percentile latency of a transaction."),
            metric("latency_max", Seconds, Lower, "Maximum latency of a transaction."),
            NETPERF_CPU_CLIENT,
        ],
        headline: "transaction_rate",
    },
    Benchmark {
        name: "iperf3-udp",
        description: "UDP throughput, loss and jitter with iperf3 -u at a 1 Gbit/s target rate (one stream; --rate, --streams, --message-size).",
        server: Template { program: "iperf3", args: &["-s", "-p", "5201"] },
        client: Template {
            program: "iperf3",
            args: &[
                "-c", "{server_ip}", "-p", "5201", "-u", "-b", "{rate=1G}", "-t", "{duration}", "{?streams -P}",
                "{?message_size -l}", "-J",
            ],
        },
        ports: &[udp_port(5201, "iperf3", true)],
        tests_per_run: 1,
        parse: parse::iperf3::parse_udp,
        metrics: &[
            metric("throughput_received", BytesPerSecond, Higher, "Bytes per second received by the server."),
            metric("throughput_sent", BytesPerSecond, Higher, "Bytes per second sent by the client."),
            metric("loss_percent", Count, Lower, "Datagrams lost, in percent of those sent (0 to 100)."),
            metric("lost_datagrams", Count, Lower, "Datagrams the server did not receive."),
            metric("datagrams", Count, Higher, "Datagrams sent by the client."),
            metric("jitter", Seconds, Lower, "Mean deviation of the datagrams' transit time (RFC 1889), seen by the server."),
            IPERF3_CPU_CLIENT,
            IPERF3_CPU_SERVER,
        ],
        headline: "throughput_received",
    },
    Benchmark {
        name: "netperf-udp-rr",
        description: "UDP request/response (1 byte each way) with netperf UDP_RR: transaction rate and latency.",
        server: NETPERF_SERVER,
        client: Template {
            program: "netperf",
            args: &[
                "-H", "{server_ip}", "-p", "12865", "-t", "UDP_RR", "-l", "{duration}", "-j", "-c", "-C", "-P", "0", "--",
                "-P", ",12866", "{?message_size -r}", "-k", NETPERF_RR_KEYS,
            ],
        },
        ports: NETPERF_UDP_PORTS,
        tests_per_run: 1,
        parse: parse::netperf::parse_rr,
        metrics: &[
            metric("transaction_rate", PerSecond, Higher, "Request/response transactions per second."),
            metric("latency_min", Seconds, Lower, "Minimum round-trip latency of a transaction."),
            metric("latency_mean", Seconds, Lower, "Mean round-trip latency of a transaction."),
            metric("latency_p50", Seconds, Lower, "Median round-trip latency of a transaction."),
            metric("latency_p90", Seconds, Lower, "90th percentile round-trip latency."),
            metric("latency_p99", Seconds, Lower, "99th percentile round-trip latency."),
            metric("latency_max", Seconds, Lower, "Maximum round-trip latency of a transaction."),
            NETPERF_CPU_CLIENT,
            NETPERF_CPU_SERVER,
        ],
        headline: "transaction_rate",
    },
    Benchmark {
        name: "netperf-udp-stream",
        description: "UDP bulk throughput with netperf UDP_STREAM, 1400-byte datagrams, unpaced: sent, received, loss.",
        server: NETPERF_SERVER,
        client: Template {
            program: "netperf",
            args: &[
                "-H", "{server_ip}", "-p", "12865", "-t", "UDP_STREAM", "-l", "{duration}", "-c", "-C", "-P", "0", "--",
                // -R 1: let the datagrams be routed (netperf sets SO_DONTROUTE for UDP_STREAM,
                // and a pod on another node is not on-link: "Network is unreachable").
                "-R", "1", "-P", ",12866", "-m", "{message_size=1400}", "-k",
                "THROUGHPUT_UNITS,LOCAL_SEND_THROUGHPUT,REMOTE_RECV_THROUGHPUT,LOCAL_SEND_CALLS,REMOTE_RECV_CALLS,LOCAL_CPU_UTIL,REMOTE_CPU_UTIL",
            ],
        },
        ports: NETPERF_UDP_PORTS,
        tests_per_run: 1,
        parse: parse::netperf::parse_udp_stream,
        metrics: &[
            metric("throughput_received", BytesPerSecond, Higher, "Bytes per second received by netserver."),
            metric("throughput_sent", BytesPerSecond, Higher, "Bytes per second sent by netperf."),
            metric("loss_percent", Count, Lower, "Datagrams lost, in percent of those sent (0 to 100)."),
            metric("lost_datagrams", Count, Lower, "Datagrams sent but not received (send calls minus receive calls)."),
            metric("datagrams", Count, Higher, "Datagrams sent by netperf."),
            NETPERF_CPU_CLIENT,
            NETPERF_CPU_SERVER,
        ],
        headline: "throughput_received",
    },
    // Only for the performance harness (crates/netbench-perf): compiled with the cargo feature
    // `perf-harness` alone, so no shipped binary can select it. An idle iperf3 server and a
    // client that does nothing: a pair costs only netbench's own dispatch.
    #[cfg(feature = "perf-harness")]
    Benchmark {
        name: "perf-noop",
        description: "Harness dispatch only (perf-harness builds): idle iperf3 server, no-op client.",
        // Bound to the server's own address: many noop servers share one network namespace.
        server: Template { program: "iperf3", args: &["-s", "-p", "15299", "-B", "{server_ip}"] },
        client: Template { program: "true", args: &[] },
        ports: &[port(15299, "perf-noop", true)],
        tests_per_run: 1,
        parse: |_| Ok(vec![("dispatched", 1.0)]),
        metrics: &[metric("dispatched", Count, Higher, "1 for every pair dispatched.")],
        headline: "dispatched",
    },
];

/// The benchmark with that name.
pub fn find(name: &str) -> Option<&'static Benchmark> {
    CATALOGUE.iter().find(|b| b.name == name)
}

/// All benchmark names, comma separated, for error messages.
pub fn names() -> String {
    CATALOGUE
        .iter()
        .map(|b| b.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn catalogue_is_consistent() {
        let mut names = HashSet::new();
        let mut units: HashMap<&str, Unit> = HashMap::new();
        for b in CATALOGUE {
            assert!(names.insert(b.name), "duplicate benchmark {}", b.name);
            assert!(
                b.metric(b.headline).is_some(),
                "{}: headline not a metric",
                b.name
            );
            assert_eq!(
                b.ports.iter().filter(|p| p.ready_probe).count(),
                1,
                "{}",
                b.name
            );
            let mut seen = HashSet::new();
            for m in b.metrics {
                assert!(
                    seen.insert(m.name),
                    "{}: duplicate metric {}",
                    b.name,
                    m.name
                );
                // The same metric name means the same unit everywhere (one Prometheus family).
                let u = *units.entry(m.name).or_insert(m.unit);
                assert_eq!(u, m.unit, "metric {} has two units", m.name);
                assert!(m
                    .name
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'));
            }
            for p in b.ports {
                assert!(
                    p.name.len() <= 15,
                    "port name {} too long for Kubernetes",
                    p.name
                );
            }
            // Every pinned port appears in the commands, so none is left to chance.
            let all_args: Vec<&str> = b.server.args.iter().chain(b.client.args).copied().collect();
            for p in b.ports {
                let n = p.number.to_string();
                assert!(
                    all_args.iter().any(|a| a.contains(&n)),
                    "{}: port {n} not pinned",
                    b.name
                );
            }
        }
    }

    /// A benchmark sends UDP exactly when one of its ports is marked `udp` (so Services and
    /// NetworkPolicies built from the ports open it for UDP), and never its control port.
    #[test]
    fn udp_ports_are_marked_exactly_for_udp_benchmarks() {
        for b in CATALOGUE {
            let sends_udp = b
                .client
                .args
                .iter()
                .any(|a| *a == "-u" || a.starts_with("UDP_"));
            assert_eq!(
                b.ports.iter().any(|p| p.udp),
                sends_udp,
                "{}: UDP data port marking",
                b.name
            );
            if b.client.program == "netperf" {
                assert!(
                    b.ports.iter().all(|p| !p.udp || !p.ready_probe),
                    "{}",
                    b.name
                );
            }
        }
    }

    #[test]
    fn timeout_leaves_room_beyond_the_tests() {
        let q = find("qperf-tcp").unwrap();
        assert!(q.timeout_seconds(10) > 20);
        assert!(find("iperf3-tcp").unwrap().timeout_seconds(10) > 10);
    }
}
