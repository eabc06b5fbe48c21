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
        ) {
            let run = "r1".parse().unwrap();
            let role = if client { Role::Client } else { Role::Server };
            let b = &CATALOGUE[which];
            let good = spec(b, role, &run, "p", params());
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
    }
}
