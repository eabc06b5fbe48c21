//! The allow-list, derived from the catalogue: a worker runs a command only if it is exactly
//! what the catalogue renders for that benchmark and role with validated parameters.

use crate::catalogue::{find, names, Benchmark, Template};
use netbench_proto::{CommandSpec, TaskParams};
use std::net::IpAddr;

/// Longest test a task may ask for.
pub const MAX_DURATION_SECONDS: u32 = 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

/// Why a command was refused. Nothing was executed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("unknown benchmark {0:?}; known benchmarks: {list}", list = names())]
    UnknownBenchmark(String),
    #[error("command {got:?} is not allowed for {benchmark} ({role:?}); only {expected:?} is")]
    Command {
        benchmark: &'static str,
        role: Role,
        got: String,
        expected: &'static str,
    },
    #[error("arguments {got:?} are not the catalogue's {expected:?} for {benchmark} ({role:?})")]
    Args {
        benchmark: &'static str,
        role: Role,
        got: Vec<String>,
        expected: Vec<String>,
    },
    #[error("duration {0}s is outside 1..={MAX_DURATION_SECONDS}s")]
    Duration(u32),
    #[error("server address {0} is not a unicast address")]
    Address(IpAddr),
    #[error("{0}")]
    Parameter(String),
    #[error("timeout {got}s does not match the catalogue's {expected}s")]
    Timeout { got: u64, expected: u64 },
}

/// Validate the parameters a template is filled with.
pub fn check_params(params: &TaskParams) -> Result<(), Rejection> {
    if params.duration_seconds == 0 || params.duration_seconds > MAX_DURATION_SECONDS {
        return Err(Rejection::Duration(params.duration_seconds));
    }
    let ip = params.server_ip;
    if ip.is_unspecified() || ip.is_multicast() || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast())
    {
        return Err(Rejection::Address(ip));
    }
    Ok(())
}

fn template(bench: &Benchmark, role: Role) -> &Template {
    match role {
        Role::Server => &bench.server,
        Role::Client => &bench.client,
    }
}

/// Render a benchmark's command for `role` with `params`: `(program, args)`.
pub fn render(bench: &Benchmark, role: Role, params: &TaskParams) -> (String, Vec<String>) {
    let t = template(bench, role);
    let host = match params.server_ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    let args = t
        .args
        .iter()
        .flat_map(|a| crate::params::fill(a, &params.parameters))
        .map(|a| {
            a.replace("{server_ip}", &params.server_ip.to_string())
                .replace("{server_host}", &host)
                .replace("{duration}", &params.duration_seconds.to_string())
        })
        .collect();
    (t.program.to_string(), args)
}

/// Build the command spec the orchestrator sends for one role of one pair.
pub fn spec(
    bench: &Benchmark,
    role: Role,
    run: &netbench_proto::RunId,
    pair: &str,
    params: TaskParams,
) -> CommandSpec {
    let (command, args) = render(bench, role, &params);
    CommandSpec {
        run: run.clone(),
        pair: pair.to_string(),
        benchmark: bench.name.to_string(),
        command,
        args,
        timeout_seconds: bench.timeout_seconds(params.duration_seconds),
        params,
    }
}

/// Check that `spec` is exactly what the catalogue allows for `role`. Returns the benchmark.
pub fn validate(spec: &CommandSpec, role: Role) -> Result<&'static Benchmark, Rejection> {
    let bench = find(&spec.benchmark)
        .ok_or_else(|| Rejection::UnknownBenchmark(spec.benchmark.chars().take(64).collect()))?;
    check_params(&spec.params)?;
    bench
        .check_parameters(&spec.params.parameters)
        .map_err(Rejection::Parameter)?;
    let (program, args) = render(bench, role, &spec.params);
    if spec.command != program {
        return Err(Rejection::Command {
            benchmark: bench.name,
            role,
            got: spec.command.chars().take(256).collect(),
            expected: template(bench, role).program,
        });
    }
    if spec.args != args {
        return Err(Rejection::Args {
            benchmark: bench.name,
            role,
            got: spec
                .args
                .iter()
                .take(64)
                .map(|a| a.chars().take(256).collect())
                .collect(),
            expected: args,
        });
    }
    let expected = bench.timeout_seconds(spec.params.duration_seconds);
    if spec.timeout_seconds != expected {
        return Err(Rejection::Timeout {
            got: spec.timeout_seconds,
            expected,
        });
    }
    Ok(bench)
}

/// Every program the catalogue may run: the whole allow-list.
pub fn allowed_programs() -> Vec<&'static str> {
    let mut p: Vec<&str> = crate::CATALOGUE.iter().flat_map(|b| b.programs()).collect();
    p.sort_unstable();
    p.dedup();
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CATALOGUE;
    use proptest::prelude::*;

    fn params() -> TaskParams {
        TaskParams {
            server_ip: "198.18.0.2".parse().unwrap(),
            duration_seconds: 5,
            parameters: Default::default(),
        }
    }

    #[test]
    fn rendered_specs_validate_for_every_benchmark_and_role() {
        let run = "r1".parse().unwrap();
        for b in CATALOGUE {
            for role in [Role::Server, Role::Client] {
                let s = spec(b, role, &run, "a--b", params());
                assert_eq!(validate(&s, role).unwrap().name, b.name);
            }
        }
        let s = spec(
            crate::find("fortio-http").unwrap(),
            Role::Client,
            &run,
            "p",
            TaskParams {
                server_ip: "fd00::2".parse().unwrap(),
                duration_seconds: 3,
                parameters: Default::default(),
            },
        );
        assert!(
            s.args.contains(&"http://[fd00::2]:8080/echo".to_string()),
            "{:?}",
            s.args
        );
        assert!(s.args.contains(&"3s".to_string()));
    }

    #[test]
    #[cfg(not(feature = "perf-harness"))]
    fn allow_list_is_exactly_the_catalogue_programs() {
        assert_eq!(
            allowed_programs(),
            vec!["fortio", "iperf3", "netperf", "netserver", "qperf"]
        );
    }

    #[test]
    fn obvious_attacks_are_rejected() {
        let run = "r1".parse().unwrap();
        let b = crate::find("iperf3-tcp").unwrap();
        let mut s = spec(b, Role::Client, &run, "p", params());
        s.command = "/bin/sh".into();
        assert!(matches!(
            validate(&s, Role::Client),
            Err(Rejection::Command { .. })
        ));
        let mut s = spec(b, Role::Client, &run, "p", params());
        s.args.push("--logfile=/etc/passwd".into());
        assert!(matches!(
            validate(&s, Role::Client),
            Err(Rejection::Args { .. })
        ));
        // The server template run as a client is not the client template.
        let s = spec(b, Role::Server, &run, "p", params());
        assert!(validate(&s, Role::Client).is_err());
        let mut s = spec(b, Role::Client, &run, "p", params());
        s.benchmark = "rm -rf".into();
        assert!(matches!(
            validate(&s, Role::Client),
            Err(Rejection::UnknownBenchmark(_))
        ));
        let s = spec(
            b,
            Role::Client,
            &run,
            "p",
            TaskParams {
                server_ip: "0.0.0.0".parse().unwrap(),
                duration_seconds: 5,
                parameters: Default::default(),
            },
        );
        assert!(matches!(
            validate(&s, Role::Client),
            Err(Rejection::Address(_))
        ));
        let s = spec(
            b,
            Role::Client,
            &run,
            "p",
            TaskParams {
                duration_seconds: 0,
                ..params()
            },
        );
        assert!(matches!(
            validate(&s, Role::Client),
            Err(Rejection::Duration(0))
        ));
    }

    fn with(streams: Option<u32>, message_size: Option<u32>, rate: Option<u64>) -> TaskParams {
        TaskParams {
            parameters: netbench_proto::Parameters {
                streams,
                message_size,
                rate,
            },
            ..params()
        }
    }

    /// Without parameters the commands are exactly the ones every earlier run used.
    #[test]
    fn no_parameters_render_the_commands_as_before() {
        let args = |name: &str| render(crate::find(name).unwrap(), Role::Client, &params()).1;
        assert_eq!(
            args("iperf3-tcp"),
            ["-c", "198.18.0.2", "-p", "5201", "-t", "5", "-J"]
        );
        assert_eq!(
            args("iperf3-udp"),
            [
                "-c",
                "198.18.0.2",
                "-p",
                "5201",
                "-u",
                "-b",
                "1G",
                "-t",
                "5",
                "-J"
            ]
        );
        assert!(args("fortio-tcp").windows(2).any(|w| w == ["-c", "1"]));
        assert!(args("netperf-tcp-stream")
            .windows(2)
            .any(|w| w == ["-m", "131072"]));
        assert!(!args("netperf-tcp-rr").contains(&"-r".to_string()));
        assert!(!args("qperf-tcp").contains(&"-m".to_string()));
    }

    #[test]
    fn parameters_render_into_the_tools_flags() {
        let run = "r1".parse().unwrap();
        let cases: &[(&str, TaskParams, &[&str])] = &[
            (
                "iperf3-tcp",
                with(Some(4), Some(65536), None),
                &["-P", "4", "-l", "65536"],
            ),
            (
                "iperf3-udp",
                with(Some(2), Some(1200), Some(0)),
                &["-b", "0", "-t", "5", "-P", "2", "-l", "1200"],
            ),
            ("netperf-tcp-rr", with(None, Some(64), None), &["-r", "64"]),
            (
                "netperf-udp-rr",
                with(None, Some(512), None),
                &["-r", "512"],
            ),
            (
                "netperf-tcp-stream",
                with(None, Some(4096), None),
                &["-m", "4096"],
            ),
            (
                "netperf-udp-stream",
                with(None, Some(8000), None),
                &["-m", "8000"],
            ),
            ("qperf-tcp", with(None, Some(1024), None), &["-m", "1024"]),
            ("fortio-http", with(Some(8), None, None), &["-c", "8"]),
        ];
        for (name, p, flags) in cases {
            let b = crate::find(name).unwrap();
            let s = spec(b, Role::Client, &run, "p", p.clone());
            assert!(
                s.args.windows(flags.len()).any(|w| w == *flags),
                "{name}: {flags:?} not in {:?}",
                s.args
            );
            assert_eq!(validate(&s, Role::Client).unwrap().name, b.name);
            assert_eq!(
                validate(&spec(b, Role::Server, &run, "p", p.clone()), Role::Server)
                    .unwrap()
                    .name,
                b.name
            );
        }
    }

    #[test]
    fn parameters_a_benchmark_does_not_take_or_out_of_range_are_refused() {
        let run = "r1".parse().unwrap();
        let refused = |name: &str, p: TaskParams| {
            let b = crate::find(name).unwrap();
            let s = spec(b, Role::Client, &run, "p", p);
            match validate(&s, Role::Client) {
                Err(Rejection::Parameter(m)) => m,
                other => panic!("{name}: {other:?}"),
            }
        };
        let m = refused("netperf-tcp-rr", with(Some(4), None, None));
        assert!(
            m.contains("does not take --streams") && m.contains("iperf3-tcp"),
            "{m}"
        );
        assert!(refused("iperf3-tcp", with(None, None, Some(5))).contains("--rate"));
        assert!(refused("iperf3-tcp", with(Some(0), None, None)).contains("1..=128"));
        assert!(refused("iperf3-tcp", with(Some(10_000), None, None)).contains("1..=128"));
        assert!(refused("iperf3-tcp", with(None, Some(0), None)).contains("--message-size 0"));
        assert!(refused("iperf3-tcp", with(None, Some(2 << 20), None)).contains("1048576"));
        // UDP carries at most 65507 bytes a datagram.
        assert!(refused("iperf3-udp", with(None, Some(65_508), None)).contains("65507"));
        assert!(refused("netperf-udp-rr", with(None, Some(70_000), None)).contains("65507"));
    }

    #[test]
    fn the_results_record_what_ran() {
        let b = crate::find("iperf3-udp").unwrap();
        let e = b.effective_parameters(&Default::default());
        assert_eq!(
            (e.streams, e.message_size, e.rate),
            (None, None, Some(1_000_000_000))
        );
        let f = crate::find("fortio-tcp").unwrap();
        assert_eq!(f.effective_parameters(&Default::default()).streams, Some(1));
        assert_eq!(
            f.effective_parameters(&with(Some(3), None, None).parameters)
                .streams,
            Some(3)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Any change to a valid spec's command or arguments is refused.
        #[test]
        fn any_mutation_of_command_or_args_is_rejected(
            which in 0usize..CATALOGUE.len(),
            client in any::<bool>(),
            new_command in "[ -~]{0,20}",
            extra in proptest::collection::vec("[ -~]{0,12}", 0..4),
            drop_at in any::<prop::sample::Index>(),
            mode in 0u8..4,
            streams in proptest::option::of(1u32..=128),
            size in proptest::option::of(1u32..=1400),
            rate in proptest::option::of(0u64..=10_000_000_000),
        ) {
            let run = "r1".parse().unwrap();
            let role = if client { Role::Client } else { Role::Server };
            let b = &CATALOGUE[which];
            // Parameters the benchmark takes, in range: the mutations below must still fail.
            let p = with(
                streams.filter(|_| b.takes().contains(&crate::Param::Streams)),
                size.filter(|_| b.takes().contains(&crate::Param::MessageSize)),
                rate.filter(|_| b.takes().contains(&crate::Param::Rate)),
            );
            let good = spec(b, role, &run, "p", p);
            prop_assert!(validate(&good, role).is_ok());
            let mut s = good.clone();
            match mode {
                0 => s.command = new_command,
                1 => s.args.extend(extra),
                2 if !s.args.is_empty() => { s.args.remove(drop_at.index(s.args.len())); }
                _ => if let Some(first) = extra.first() {
                    let i = drop_at.index(s.args.len().max(1)).min(s.args.len().saturating_sub(1));
                    if let Some(a) = s.args.get_mut(i) { *a = first.clone(); }
                },
            }
            if s != good {
                prop_assert!(validate(&s, role).is_err(), "accepted {:?} {:?}", s.command, s.args);
            }
        }

        /// Any parameters: the worker accepts the spec exactly when the benchmark takes them and
        /// they are in range, and the value appears in the command.
        #[test]
        fn parameters_are_accepted_exactly_when_taken_and_in_range(
            which in 0usize..CATALOGUE.len(),
            streams in proptest::option::of(0u32..=300),
            size in proptest::option::of(0u32..=2_000_000),
            rate in proptest::option::of(0u64..=2_000_000_000_000),
        ) {
            let run = "r1".parse().unwrap();
            let b = &CATALOGUE[which];
            let p = with(streams, size, rate);
            let s = spec(b, Role::Client, &run, "p", p.clone());
            let ok = b.check_parameters(&p.parameters).is_ok();
            prop_assert_eq!(validate(&s, Role::Client).is_ok(), ok);
            if ok {
                for v in [streams.map(u64::from), size.map(u64::from), rate].into_iter().flatten() {
                    prop_assert!(s.args.iter().any(|a| a.contains(&v.to_string())), "{v} not in {:?}", s.args);
                }
            }
        }
    }
}
