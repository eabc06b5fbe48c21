//! From a [`PairResult`] to Prometheus gauges, derived from the catalogue alone.
//!
//! A catalogue metric `{name, unit}` is the gauge `netbench_<name>_<unit suffix>`
//! ([`netbench_proto::Unit::suffix`]; no suffix for plain counts), with the catalogue's help text.
//! Adding a metric to a benchmark's catalogue entry is therefore all it takes to export it.
//!
//! Every series carries the labels [`LABELS`] (the pair's run, benchmark, workers, nodes,
//! zones, entry, sample and path). Each pair is one set of gauges with constant
//! labels, so any number of pairs can share a [`Registry`] and `gather()` merges them into one
//! family per metric name.

use crate::MetricsError;
use netbench_proto::{PairResult, Status, Unit};
use prometheus::{Gauge, Opts, Registry};

/// Prefix of every netbench metric name.
pub const PREFIX: &str = "netbench";

/// The labels of every pair series, in this order. `entry` and `sample` tell apart the
/// results of one pair in a run of several entries (`--suite`) or samples (`--samples`), and
/// `path` (`pod`, `host`, `service`, `same-node`) its paths (`--paths`): the pod and the
/// service pair of two nodes run on the same workers, and would otherwise be one series.
pub const LABELS: [&str; 11] = [
    "run",
    "benchmark",
    "client_worker",
    "server_worker",
    "client_node",
    "server_node",
    "client_zone",
    "server_zone",
    "entry",
    "sample",
    "path",
];

/// The pair's status code (`task.status` of the results file), for every pair.
pub const PAIR_STATUS: &str = "netbench_pair_status";
/// 1 when the pair succeeded, 0 when it failed, for every pair.
pub const PAIR_OK: &str = "netbench_pair_ok";

/// The Prometheus name of a catalogue metric: `netbench_<name>_<unit suffix>`, or
/// `netbench_<name>` for plain counts.
pub fn metric_name(name: &str, unit: Unit) -> String {
    match unit.suffix() {
        "" => format!("{PREFIX}_{name}"),
        suffix => format!("{PREFIX}_{name}_{suffix}"),
    }
}

/// One series to export: a gauge name, its help, the pair's labels and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub help: String,
    /// `(label, value)` in the order of [`LABELS`].
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

fn status_help() -> String {
    let codes: Vec<String> = Status::ALL
        .iter()
        .map(|s| format!("{} {}", *s as u8, s.name()))
        .collect();
    format!("Outcome of the pair: {}.", codes.join(", "))
}

/// The labels of a pair, in the order of [`LABELS`].
pub fn pair_labels(result: &PairResult) -> Vec<(&'static str, String)> {
    let (c, s) = (&result.task.client, &result.task.server);
    let (entry, sample) = (result.entry.to_string(), result.sample.to_string());
    let values = [
        result.run.as_str(),
        result.benchmark.as_str(),
        c.worker.as_str(),
        s.worker.as_str(),
        c.vm.hostname.as_str(),
        s.vm.hostname.as_str(),
        c.vm.availability_zone.as_str(),
        s.vm.availability_zone.as_str(),
        entry.as_str(),
        sample.as_str(),
        result.path.name(),
    ];
    LABELS
        .iter()
        .zip(values)
        .map(|(l, v)| (*l, v.to_string()))
        .collect()
}

/// The series of one pair: status and ok for every pair, then one per measured metric when the
/// pair succeeded. Checks every metric against the benchmark's catalogue entry. No I/O.
pub fn pair_series(result: &PairResult) -> Result<Vec<Series>, MetricsError> {
    let bench =
        netbench_bench::find(&result.benchmark).ok_or_else(|| MetricsError::UnknownBenchmark {
            benchmark: result.benchmark.clone(),
            pair: result.pair.clone(),
            known: netbench_bench::names(),
        })?;
    let labels = pair_labels(result);
    let status = result.task.status;
    let ok = status == Status::Ok;
    let mut out = vec![
        Series {
            name: PAIR_STATUS.to_string(),
            help: status_help(),
            labels: labels.clone(),
            value: f64::from(status as u8),
        },
        Series {
            name: PAIR_OK.to_string(),
            help: "1 when the pair succeeded and its metrics were measured, 0 when it failed."
                .to_string(),
            labels: labels.clone(),
            value: if ok { 1.0 } else { 0.0 },
        },
    ];
    if !ok {
        // A failed pair has no measurement, not a zero one.
        return Ok(out);
    }
    for m in &result.metrics {
        let def = bench
            .metric(&m.name)
            .ok_or_else(|| MetricsError::UnknownMetric {
                benchmark: bench.name.to_string(),
                pair: result.pair.clone(),
                metric: m.name.clone(),
            })?;
        if def.unit != m.unit {
            return Err(MetricsError::UnitMismatch {
                pair: result.pair.clone(),
                metric: m.name.clone(),
                got: m.unit,
                want: def.unit,
            });
        }
        out.push(Series {
            name: metric_name(def.name, def.unit),
            help: def.help.to_string(),
            labels: labels.clone(),
            value: m.value,
        });
    }
    Ok(out)
}

/// Add one pair's gauges ([`pair_series`]) to `registry`. All or nothing: on an error no gauge of
/// the pair stays registered. Adding the same pair twice is [`MetricsError::DuplicatePair`].
pub fn pair_gauges(registry: &Registry, result: &PairResult) -> Result<(), MetricsError> {
    let series = pair_series(result)?;
    let mut added: Vec<Gauge> = Vec::with_capacity(series.len());
    for s in series {
        let opts = Opts::new(&s.name, &s.help).const_labels(
            s.labels
                .iter()
                .map(|(l, v)| (l.to_string(), v.clone()))
                .collect(),
        );
        let registered = Gauge::with_opts(opts).and_then(|g| {
            g.set(s.value);
            registry.register(Box::new(g.clone())).map(|()| g)
        });
        match registered {
            Ok(g) => added.push(g),
            Err(e) => {
                for g in added {
                    let _ = registry.unregister(Box::new(g));
                }
                return Err(match e {
                    prometheus::Error::AlreadyReg => MetricsError::DuplicatePair {
                        run: result.run.to_string(),
                        pair: result.pair.clone(),
                    },
                    source => MetricsError::Register {
                        name: s.name,
                        source,
                    },
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use netbench_bench::CATALOGUE;
    use prometheus::proto::MetricFamily;
    use std::collections::{BTreeMap, HashSet};

    /// A pair measured from a real captured tool output, through the real parser.
    fn measured(bench: &str, case: &str, client: &str, server: &str) -> PairResult {
        crate::testkit::fixture_pair(bench, case, client, server)
    }

    fn families(r: &Registry) -> BTreeMap<String, MetricFamily> {
        r.gather()
            .into_iter()
            .map(|f| (f.name().to_string(), f))
            .collect()
    }

    fn labels_of(m: &prometheus::proto::Metric) -> BTreeMap<String, String> {
        m.get_label()
            .iter()
            .map(|l| (l.name().to_string(), l.value().to_string()))
            .collect()
    }

    #[test]
    fn names_put_base_units_last_and_counts_bare() {
        assert_eq!(
            metric_name("throughput_received", Unit::BytesPerSecond),
            "netbench_throughput_received_bytes_per_second"
        );
        assert_eq!(
            metric_name("latency_p50", Unit::Seconds),
            "netbench_latency_p50_seconds"
        );
        assert_eq!(
            metric_name("transaction_rate", Unit::PerSecond),
            "netbench_transaction_rate_per_second"
        );
        assert_eq!(
            metric_name("retransmits", Unit::Count),
            "netbench_retransmits"
        );
    }

    #[test]
    fn iperf3_fixture_becomes_labelled_gauges_with_the_parsed_values() {
        let r = measured("iperf3-tcp", "ok", "node-a", "node-b");
        assert_eq!(r.task.status, Status::Ok);
        let reg = Registry::new();
        pair_gauges(&reg, &r).unwrap();
        let fams = families(&reg);
        let want_labels: BTreeMap<String, String> = [
            ("run", "run1"),
            ("benchmark", "iperf3-tcp"),
            ("client_worker", "node-a"),
            ("server_worker", "node-b"),
            ("client_node", "host-node-a"),
            ("server_node", "host-node-b"),
            ("client_zone", "zone-node-a"),
            ("server_zone", "zone-node-b"),
            ("entry", "0"),
            ("sample", "0"),
            ("path", "pod"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let names: Vec<&str> = fams.keys().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "netbench_cpu_client_percent",
                "netbench_cpu_server_percent",
                "netbench_pair_ok",
                "netbench_pair_status",
                "netbench_retransmits",
                "netbench_rtt_mean_seconds",
                "netbench_throughput_received_bytes_per_second",
                "netbench_throughput_sent_bytes_per_second",
            ]
        );
        for m in &r.metrics {
            let f = &fams[&metric_name(&m.name, m.unit)];
            assert_eq!(f.get_field_type(), prometheus::proto::MetricType::GAUGE);
            let def = netbench_bench::find("iperf3-tcp")
                .unwrap()
                .metric(&m.name)
                .unwrap();
            assert_eq!(f.help(), def.help);
            assert_eq!(f.get_metric().len(), 1);
            assert_eq!(labels_of(&f.get_metric()[0]), want_labels);
            assert_eq!(
                f.get_metric()[0].get_gauge().get_value(),
                m.value,
                "{}",
                m.name
            );
        }
        // The fixture's values, read by hand from ok.stdout (end.sum_*.bits_per_second / 8,
        // end.sum_sent.retransmits, end.streams[0].sender.mean_rtt in microseconds).
        let value = |name: &str| fams[name].get_metric()[0].get_gauge().get_value();
        assert_eq!(
            value("netbench_throughput_received_bytes_per_second"),
            20677831364.0913 / 8.0
        );
        assert_eq!(
            value("netbench_throughput_sent_bytes_per_second"),
            20678224198.889725 / 8.0
        );
        assert_eq!(value("netbench_retransmits"), 254.0);
        assert_eq!(value("netbench_rtt_mean_seconds"), 31e-6);
        assert_eq!(value("netbench_cpu_client_percent"), 97.5762553765093);
        assert_eq!(fams[PAIR_OK].get_metric()[0].get_gauge().get_value(), 1.0);
        assert_eq!(
            fams[PAIR_STATUS].get_metric()[0].get_gauge().get_value(),
            0.0
        );
    }

    #[test]
    fn failed_pair_has_status_and_no_measurement() {
        let r = measured("iperf3-tcp", "refused", "node-a", "node-b");
        assert_eq!(r.task.status, Status::ToolFailed);
        let reg = Registry::new();
        pair_gauges(&reg, &r).unwrap();
        let fams = families(&reg);
        assert_eq!(fams.keys().collect::<Vec<_>>(), [PAIR_OK, PAIR_STATUS]);
        assert_eq!(
            fams[PAIR_STATUS].get_metric()[0].get_gauge().get_value(),
            1.0
        );
        assert_eq!(fams[PAIR_OK].get_metric()[0].get_gauge().get_value(), 0.0);
        assert!(fams[PAIR_STATUS].help().contains("1 tool_failed"));
    }

    #[test]
    fn pairs_share_a_registry_one_family_per_metric() {
        let reg = Registry::new();
        let a = measured("netperf-tcp-rr", "ok", "n1", "n2");
        let b = measured("netperf-tcp-rr", "ok", "n2", "n1");
        pair_gauges(&reg, &a).unwrap();
        pair_gauges(&reg, &b).unwrap();
        let fams = families(&reg);
        let f = &fams["netbench_transaction_rate_per_second"];
        assert_eq!(f.get_metric().len(), 2);
        let clients: HashSet<String> = f
            .get_metric()
            .iter()
            .map(|m| labels_of(m)["client_worker"].clone())
            .collect();
        assert_eq!(clients, HashSet::from(["n1".into(), "n2".into()]));
        assert_eq!(fams["netbench_latency_p50_seconds"].get_metric().len(), 2);
        // Nine netperf-tcp-rr metrics (seven of the transactions, CPU on both ends) plus status
        // and ok.
        assert_eq!(fams.len(), 11);
        assert!(fams.contains_key("netbench_cpu_server_system_percent"));
    }

    #[test]
    fn the_paths_of_one_pair_are_series_of_their_own_labelled_with_the_path() {
        use netbench_proto::Path;
        let reg = Registry::new();
        // Pod and service run on the same workers; host on the nodes' hostNetwork workers.
        let on = |path: Path, client: &str, server: &str, scale: f64| {
            let mut r = measured("iperf3-tcp", "ok", client, server);
            r.path = path;
            for m in &mut r.metrics {
                m.value *= scale;
            }
            r
        };
        let pairs = [
            on(Path::Pod, "n1", "n2", 1.0),
            on(Path::Service, "n1", "n2", 0.5),
            on(Path::Host, "n1-host", "n2-host", 2.0),
        ];
        for r in &pairs {
            pair_gauges(&reg, r).unwrap();
        }
        let fams = families(&reg);
        let f = &fams["netbench_throughput_received_bytes_per_second"];
        let by_path: BTreeMap<String, (BTreeMap<String, String>, f64)> = f
            .get_metric()
            .iter()
            .map(|m| {
                let l = labels_of(m);
                (l["path"].clone(), (l, m.get_gauge().get_value()))
            })
            .collect();
        assert_eq!(by_path.len(), 3, "{by_path:?}");
        for r in &pairs {
            let (labels, value) = &by_path[r.path.name()];
            assert_eq!(labels["client_worker"], r.task.client.worker);
            assert_eq!(Some(*value), r.metric("throughput_received"));
        }
        assert_eq!(
            by_path["service"].1 * 2.0,
            by_path["pod"].1,
            "the service series holds the service figure, not the pod one"
        );
        // Without the label the service pair would be the pod pair's series again.
        let mut again = pairs[1].clone();
        again.path = Path::Pod;
        assert!(matches!(
            pair_gauges(&reg, &again).unwrap_err(),
            MetricsError::DuplicatePair { .. }
        ));
    }

    #[test]
    fn the_same_pair_twice_is_refused_and_leaves_the_registry_as_it_was() {
        let reg = Registry::new();
        let a = measured("iperf3-tcp", "ok", "n1", "n2");
        pair_gauges(&reg, &a).unwrap();
        let before = prometheus::TextEncoder::new()
            .encode_to_string(&reg.gather())
            .unwrap();
        let err = pair_gauges(&reg, &a).unwrap_err();
        assert!(matches!(err, MetricsError::DuplicatePair { .. }), "{err}");
        let after = prometheus::TextEncoder::new()
            .encode_to_string(&reg.gather())
            .unwrap();
        assert_eq!(before, after);
    }

    #[test]
    fn metrics_the_catalogue_does_not_define_are_refused() {
        let mut r = measured("iperf3-tcp", "ok", "n1", "n2");
        r.metrics[0].name = "jitter".into();
        let err = pair_series(&r).unwrap_err();
        assert!(err.to_string().contains("\"jitter\""), "{err}");
        let mut r = measured("iperf3-tcp", "ok", "n1", "n2");
        r.metrics[0].unit = Unit::Seconds;
        assert!(matches!(
            pair_series(&r).unwrap_err(),
            MetricsError::UnitMismatch { .. }
        ));
        let mut r = measured("iperf3-tcp", "ok", "n1", "n2");
        r.benchmark = "ping".into();
        let err = pair_series(&r).unwrap_err().to_string();
        assert!(
            err.contains("iperf3-tcp, "),
            "lists the known benchmarks: {err}"
        );
    }

    #[test]
    fn every_catalogue_metric_has_a_valid_distinct_name() {
        let reserved = [PAIR_STATUS, PAIR_OK];
        for b in CATALOGUE {
            let mut seen = HashSet::new();
            for m in b.metrics {
                let n = metric_name(m.name, m.unit);
                assert!(seen.insert(n.clone()), "{}: {n} twice", b.name);
                assert!(
                    !reserved.contains(&n.as_str()),
                    "{}: {n} is reserved",
                    b.name
                );
                // The prometheus crate validates names; a gauge with this name must build.
                Gauge::with_opts(Opts::new(&n, m.help)).unwrap();
                assert!(!m.help.is_empty());
            }
        }
    }
}
